import Foundation

/// Builds safetensors bytes in memory: u64 header length, JSON header (entries in the order given, optional
/// `__metadata__`), then the tensor data back to back.
/// ref: huggingface/safetensors README, "Format".
struct SafetensorsTestWriter {
  struct Tensor {
    var name: String
    var dtype: String
    var shape: [Int]
    var data: [UInt8]
    /// Overrides the data_offsets the writer would compute (as raw JSON text, so tests can write anything).
    var offsetsJSON: String? = nil
  }

  var tensors: [Tensor] = []
  var metadata: [String: String]? = nil
  /// Pad the header with spaces to a multiple of 8, as the reference writer does.
  var padHeader = true

  /// The JSON header text.
  func headerJSON() -> String {
    var parts: [String] = []
    if let metadata {
      let pairs = metadata.sorted { $0.key < $1.key }.map { "\(quote($0.key)):\(quote($0.value))" }
      parts.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for t in tensors {
      let offsets = t.offsetsJSON ?? "[\(offset),\(offset + t.data.count)]"
      offset += t.data.count
      let shape = t.shape.map(String.init).joined(separator: ",")
      parts.append("\(quote(t.name)):{\"dtype\":\(quote(t.dtype)),\"shape\":[\(shape)],\"data_offsets\":\(offsets)}")
    }
    return "{" + parts.joined(separator: ",") + "}"
  }

  func build() -> [UInt8] {
    var header = Array(headerJSON().utf8)
    if padHeader { while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) } }
    return Self.file(header: header, data: tensors.flatMap(\.data))
  }

  /// A file from raw header bytes; `headerLength` overrides the length prefix.
  static func file(header: [UInt8], data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
    var w = ByteWriter()
    w.int(headerLength ?? UInt64(header.count))
    return w.bytes + header + data
  }

  private func quote(_ s: String) -> String {
    "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
  }

  static let f32Values: [Float] = [1, -2, 3.5, 0.25, -0.125, 1e-3]  // [2, 3]
  static let f16Values: [Float] = [0.5, -1.5, 65504, 2]  // [4]
  static let bf16Values: [Float] = [1, -3, 0.0078125, 256]  // [2, 2], exact in bf16

  /// F32, F16, BF16 and U8 entries, with `__metadata__`.
  static func sample() -> SafetensorsTestWriter {
    var w = SafetensorsTestWriter()
    w.metadata = ["format": "pt", "note": "quote \" and slash \\"]
    w.tensors = [
      Tensor(name: "model.f32", dtype: "F32", shape: [2, 3], data: f32Bytes(f32Values)),
      Tensor(name: "model.f16", dtype: "F16", shape: [4], data: f16Bytes(f16Values)),
      Tensor(name: "model.bf16", dtype: "BF16", shape: [2, 2], data: bf16Bytes(bf16Values)),
      Tensor(name: "model.codes", dtype: "U8", shape: [3], data: [7, 8, 9]),
      Tensor(name: "model.scalar", dtype: "F32", shape: [], data: f32Bytes([42])),
    ]
    return w
  }
}
