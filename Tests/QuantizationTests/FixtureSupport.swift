import Foundation
import Quantization

/// Golden fixtures written by Tools/reference/make_quant_goldens.py (gguf-py 0.19.0 reference):
/// `<TYPE>.bin` raw blocks, `<TYPE>.f32` expected little-endian floats, `types.txt` type table.
/// Located relative to this file (`#filePath`), so no bundle resources are needed.
enum Fixture {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

  /// The decodable types that have golden files.
  static let goldenTypes: [GGMLType] = GGMLType.allCases.filter(\.isDecodable)

  static func bytes(_ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
  }

  /// Raw block bytes for `type`.
  static func blocks(_ type: GGMLType) throws -> [UInt8] { try bytes("\(type.name).bin") }

  /// Expected decoded values for `type`, as fp32 bit patterns (compared bit-exactly).
  static func expectedBits(_ type: GGMLType) throws -> [UInt32] {
    let raw = try bytes("\(type.name).f32")
    return stride(from: 0, to: raw.count, by: 4).map { i in
      UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24
    }
  }

  /// `(id, name, blockSize, bytesPerBlock)` rows as gguf-py lists them.
  static func typeTable() throws -> [(id: UInt32, name: String, block: Int, bytes: Int)] {
    let text = String(decoding: try bytes("types.txt"), as: UTF8.self)
    return text.split(separator: "\n").map { line in
      let f = line.split(separator: " ")
      return (UInt32(f[0])!, String(f[1]), Int(f[2])!, Int(f[3])!)
    }
  }
}

/// Decodes `bytes` of `type` at byte offset `misalign` inside a fresh buffer (to exercise unaligned
/// loads) and returns the fp32 bit patterns.
func decodeBits(_ type: GGMLType, _ bytes: [UInt8], misalign: Int = 0) -> [UInt32] {
  let count = bytes.count / type.bytesPerBlock * type.blockSize
  let source = UnsafeMutableRawPointer.allocate(
    byteCount: bytes.count + misalign + 1, alignment: 64)
  defer { source.deallocate() }
  bytes.withUnsafeBytes {
    (source + misalign).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
  }
  var out = [Float](repeating: .nan, count: count)
  out.withUnsafeMutableBufferPointer {
    ggmlDecode(type, from: source + misalign, to: $0.baseAddress!, count: count)
  }
  return out.map(\.bitPattern)
}

/// Index and values of the first mismatch, for readable failures; nil when identical.
func firstMismatch(_ got: [UInt32], _ want: [UInt32]) -> String? {
  guard got.count == want.count else { return "count \(got.count) != \(want.count)" }
  guard let i = got.indices.first(where: { got[$0] != want[$0] }) else { return nil }
  return "[\(i)] got \(Float(bitPattern: got[i])) (0x\(String(got[i], radix: 16))), "
    + "want \(Float(bitPattern: want[i])) (0x\(String(want[i], radix: 16)))"
}
