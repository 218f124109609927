import Formats
import Foundation
import Quantization

/// Little-endian byte sink for hand-built test files.
struct ByteWriter {
  var bytes: [UInt8] = []
  var count: Int { bytes.count }

  mutating func int<T: FixedWidthInteger>(_ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
  }

  /// A GGUF string: u64 byte length, then the UTF-8 bytes (no terminator).
  mutating func string(_ s: String) {
    int(UInt64(s.utf8.count))
    bytes += s.utf8
  }

  mutating func pad(to alignment: Int) {
    while bytes.count % alignment != 0 { bytes.append(0) }
  }
}

/// One tensor to write into a test GGUF file.
struct GGUFTestTensor {
  var name: String
  /// Innermost first, as GGUF stores them (dimensions[0] is the row length).
  var dimensions: [UInt64]
  /// ggml type id (GGMLType raw value, or any u32 to test unknown ids).
  var type: UInt32
  var data: [UInt8]
  /// Overrides the data-relative offset the writer would choose.
  var offset: UInt64? = nil

  init(_ name: String, dimensions: [UInt64], type: GGMLType, data: [UInt8], offset: UInt64? = nil) {
    self.init(name, dimensions: dimensions, rawType: type.rawValue, data: data, offset: offset)
  }

  init(_ name: String, dimensions: [UInt64], rawType: UInt32, data: [UInt8], offset: UInt64? = nil) {
    self.name = name
    self.dimensions = dimensions
    self.type = rawType
    self.data = data
    self.offset = offset
  }
}

/// Builds GGUF v2/v3 bytes in memory: header, metadata of all thirteen value types, tensor infos, alignment
/// padding and tensor data. Records where each field landed so tests can corrupt exactly one of them.
/// ref: ggml docs/gguf.md ("GGUF" file format specification).
struct GGUFTestWriter {
  var magic: [UInt8] = Array("GGUF".utf8)
  var version: UInt32 = 3
  var metadata: [(key: String, value: GGUFValue)] = []
  var tensors: [GGUFTestTensor] = []
  /// Padding used between header and data and between tensors. Writing `general.alignment` is up to the caller
  /// (see `setAlignment`), so a test can make the two disagree.
  var alignment = 32
  var tensorCountOverride: UInt64? = nil
  var metadataCountOverride: UInt64? = nil
  /// Element type written for empty arrays (GGUF needs one; the reader only sees an empty array).
  var emptyArrayType: UInt32 = 0

  /// The bytes plus where things are.
  struct Output {
    var bytes: [UInt8]
    /// End of the tensor infos (before padding).
    var headerEnd: Int
    /// Absolute start of the data section.
    var dataOffset: Int
    /// Absolute start of each tensor's data, in `tensors` order.
    var tensorStarts: [Int]
    /// Positions of every u64 / u32 field in the header (counts, lengths, dims, offsets / version, types, ranks).
    var u64Fields: [Int]
    var u32Fields: [Int]
    /// Named positions: "key:K", "value:K" (first byte of the value), "tensor:N", "rank:N", "type:N", "offset:N".
    var marks: [String: Int]
  }

  mutating func setAlignment(_ value: Int) {
    alignment = value
    metadata.append((key: "general.alignment", value: .uint32(UInt32(value))))
  }

  func build() -> Output {
    var w = ByteWriter()
    var u64Fields: [Int] = []
    var u32Fields: [Int] = []
    var marks: [String: Int] = [:]
    func u64(_ v: UInt64) {
      u64Fields.append(w.count)
      w.int(v)
    }
    func u32(_ v: UInt32) {
      u32Fields.append(w.count)
      w.int(v)
    }
    func string(_ s: String) {
      u64Fields.append(w.count)
      w.string(s)
    }
    func value(_ v: GGUFValue) {
      switch v {
      case .uint8(let x): w.int(x)
      case .int8(let x): w.int(x)
      case .uint16(let x): w.int(x)
      case .int16(let x): w.int(x)
      case .uint32(let x): w.int(x)
      case .int32(let x): w.int(x)
      case .float32(let x): w.int(x.bitPattern)
      case .bool(let x): w.int(UInt8(x ? 1 : 0))
      case .string(let s): string(s)
      case .uint64(let x): w.int(x)
      case .int64(let x): w.int(x)
      case .float64(let x): w.int(x.bitPattern)
      case .array(let items):
        u32(items.first.map(Self.valueType) ?? emptyArrayType)
        u64(UInt64(items.count))
        for item in items { value(item) }
      }
    }

    w.bytes += magic
    u32(version)
    u64(tensorCountOverride ?? UInt64(tensors.count))
    u64(metadataCountOverride ?? UInt64(metadata.count))
    for (key, v) in metadata {
      marks["key:\(key)"] = w.count
      string(key)
      u32(Self.valueType(v))
      marks["value:\(key)"] = w.count
      value(v)
    }

    // Data-relative offsets: each tensor aligned, in order, unless overridden.
    var relative: [UInt64] = []
    var next = 0
    for t in tensors {
      next = (next + alignment - 1) / alignment * alignment
      relative.append(t.offset ?? UInt64(next))
      next += t.data.count
    }
    for (t, offset) in zip(tensors, relative) {
      marks["tensor:\(t.name)"] = w.count
      string(t.name)
      marks["rank:\(t.name)"] = w.count
      u32(UInt32(t.dimensions.count))
      for d in t.dimensions { u64(d) }
      marks["type:\(t.name)"] = w.count
      u32(t.type)
      marks["offset:\(t.name)"] = w.count
      u64(offset)
    }
    let headerEnd = w.count
    w.pad(to: alignment)
    let dataOffset = w.count
    var starts: [Int] = []
    for (t, offset) in zip(tensors, relative) {
      let start = offset > UInt64(Int.max - dataOffset) ? Int.max : dataOffset + Int(offset)
      starts.append(start)
      // Overridden offsets may point anywhere; only place data that fits the layout.
      guard t.offset == nil else { continue }
      while w.count < start { w.bytes.append(0) }
      w.bytes += t.data
    }
    return Output(
      bytes: w.bytes, headerEnd: headerEnd, dataOffset: dataOffset, tensorStarts: starts, u64Fields: u64Fields,
      u32Fields: u32Fields, marks: marks)
  }

  /// The GGUF value type id of a value (gguf_metadata_value_type).
  static func valueType(_ v: GGUFValue) -> UInt32 {
    switch v {
    case .uint8: 0
    case .int8: 1
    case .uint16: 2
    case .int16: 3
    case .uint32: 4
    case .int32: 5
    case .float32: 6
    case .bool: 7
    case .string: 8
    case .array: 9
    case .uint64: 10
    case .int64: 11
    case .float64: 12
    }
  }
}

// MARK: tensor data encoders

func f32Bytes(_ values: [Float]) -> [UInt8] {
  var w = ByteWriter()
  for v in values { w.int(v.bitPattern) }
  return w.bytes
}

func f16Bytes(_ values: [Float]) -> [UInt8] {
  var w = ByteWriter()
  for v in values { w.int(halfBitsFromFloat(v)) }
  return w.bytes
}

/// bfloat16 by truncation: exact for the test values, which have at most 8 significant bits.
func bf16Bytes(_ values: [Float]) -> [UInt8] {
  var w = ByteWriter()
  for v in values { w.int(UInt16(truncatingIfNeeded: v.bitPattern >> 16)) }
  return w.bytes
}

/// One Q8_0 block (ggml block_q8_0): fp16 scale d, then 32 int8 quants; weight i is d * q[i].
/// ref: ggml/src/ggml-common.h block_q8_0; dequantize_row_q8_0 in ggml-quants.c.
func q8_0Block(scale: Float, quants: [Int8]) -> [UInt8] {
  precondition(quants.count == 32)
  var w = ByteWriter()
  w.int(halfBitsFromFloat(scale))
  for q in quants { w.int(q) }
  return w.bytes
}

/// Decodes a view with the Quantization decoders (the same path the model takes).
func decode(_ view: TensorView) -> [Float] {
  guard let type = view.type.decodable else { return [] }
  var out = [Float](repeating: .nan, count: view.elementCount)
  out.withUnsafeMutableBufferPointer {
    ggmlDecode(type, from: view.data, to: $0.baseAddress!, count: view.elementCount)
  }
  return out
}
