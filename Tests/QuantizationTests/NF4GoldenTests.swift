import Foundation
import Quantization
import Testing

/// NF4 and double quantization against goldens from the independent numpy reference of bitsandbytes' algorithm
/// (Tools/reference/nf4_reference.py, make_nf4_goldens.py): codes, absmax, 8-bit scales, nested absmax, offset and
/// dequantized values must be identical, bit for bit.
@Suite struct NF4GoldenTests {
  struct Case: Decodable, Sendable, CustomTestStringConvertible {
    var name: String
    var kind: String
    var n: Int
    var blocksize: Int
    var nestedBlocksize: Int?
    var files: [String: String]
    var testDescription: String { name }
    enum CodingKeys: String, CodingKey {
      case name, kind, n, blocksize, files
      case nestedBlocksize = "nested_blocksize"
    }
  }
  struct Manifest: Decodable { var cases: [Case] }

  static let directory = Fixture.directory.appendingPathComponent("nf4")
  static let cases: [Case] = {
    guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")),
      let manifest = try? JSONDecoder().decode(Manifest.self, from: data)
    else { return [] }
    return manifest.cases
  }()

  static func bytes(_ file: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: directory.appendingPathComponent(file)))
  }
  static func floats(_ file: String) throws -> [Float] {
    let raw = try bytes(file)
    return stride(from: 0, to: raw.count, by: 4).map { i in
      Float(bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
    }
  }
  static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

  @Test func manifestIsPresent() { #expect(Self.cases.count >= 8) }

  @Test func tablesMatchTheReference() throws {
    #expect(Self.bits(NF4Tables.code) == Self.bits(try Self.floats("nf4_code.f32")))
    #expect(Self.bits(NF4Tables.dynamicMapSigned) == Self.bits(try Self.floats("dynamic_map.f32")))
    // The thresholds are the fp32 midpoints of adjacent codes.
    for k in 0..<15 {
      let sum = NF4Tables.code[k] + NF4Tables.code[k + 1]
      #expect(NF4Tables.thresholds[k] == sum * 0.5, "threshold \(k)")
    }
  }

  @Test(arguments: cases.filter { $0.kind == "nf4_dq" })
  func quantizationIsIdentical(_ c: Case) throws {
    let input = try Self.floats(c.files["input"]!)
    let layout = NF4Quantizer.Layout(count: c.n, blockSize: c.blocksize, nestedBlockSize: c.nestedBlocksize!)
    var packed = [UInt8](repeating: 0xEE, count: layout.packedBytes)
    var absmax = [Float](repeating: .nan, count: layout.blocks)
    let bad = input.withUnsafeBufferPointer { x in
      NF4Quantizer.quantize(
        x.baseAddress!, count: c.n, blockSize: c.blocksize, blocks: 0..<layout.blocks, packed: &packed, absmax: &absmax)
    }
    #expect(bad == nil)
    #expect(packed == (try Self.bytes(c.files["packed"]!)), "packed codes")
    #expect(Self.bits(absmax) == Self.bits(try Self.floats(c.files["absmax"]!)), "absmax")

    var q = [UInt8](repeating: 0, count: layout.blocks)
    var nested = [Float](repeating: .nan, count: layout.nestedBlocks)
    let offset = NF4Quantizer.doubleQuantize(
      absmax: absmax, blocks: layout.blocks, nestedBlockSize: c.nestedBlocksize!, q: &q, nestedAbsmax: &nested)
    #expect(offset.bitPattern == (try Self.floats(c.files["offset"]!))[0].bitPattern, "offset")
    #expect(q == (try Self.bytes(c.files["qabsmax"]!)), "8-bit block scales")
    #expect(Self.bits(nested) == Self.bits(try Self.floats(c.files["nested_absmax"]!)), "nested absmax")

    // Decoding, fast path and naive twin, over the whole tensor and over ragged sub-ranges.
    let expected = Self.bits(try Self.floats(c.files["dequant"]!))
    try packed.withUnsafeBufferPointer { p in
      try q.withUnsafeBufferPointer { qp in
        try nested.withUnsafeBytes { groups in
          let decoder = NF4Decoder(
            count: c.n, blockSize: c.blocksize, packed: p.baseAddress!,
            scales: .nested(
              q: qp.baseAddress!, groupAbsmax: groups.baseAddress!, groupSize: c.nestedBlocksize!, offset: offset),
            code4: NF4Tables.code, code8: NF4Tables.dynamicMapSigned)
          let dqScales = try Self.floats(c.files["dq_absmax"]!)
          for b in 0..<layout.blocks { #expect(decoder.scale(block: b).bitPattern == dqScales[b].bitPattern) }
          var fast = [Float](repeating: .nan, count: c.n)
          var naive = fast
          decoder.decode(0..<c.n, into: &fast)
          decoder.decodeNaive(0..<c.n, into: &naive)
          #expect(Self.bits(fast) == expected, "fast decode")
          #expect(Self.bits(naive) == expected, "naive decode")
          for range in [1..<c.n, 0..<(c.n / 2 | 1), (c.n / 3)..<(c.n - c.n / 5)] where !range.isEmpty {
            var part = [Float](repeating: .nan, count: range.count)
            decoder.decode(range, into: &part)
            #expect(Self.bits(part) == Array(expected[range]), "range \(range)")
          }
        }
      }
    }
  }

  @Test func nonFiniteInputIsReported() {
    var x = [Float](repeating: 0.5, count: 130)
    x[77] = .nan
    var packed = [UInt8](repeating: 0, count: 65)
    var absmax = [Float](repeating: 0, count: 3)
    let bad = NF4Quantizer.quantize(x, count: 130, blockSize: 64, blocks: 0..<3, packed: &packed, absmax: &absmax)
    #expect(bad == 77)
  }

  @Test func storageIsAbout4Point127BitsPerWeight() {
    let layout = NF4Quantizer.Layout(count: 576 * 1536)
    let bytes = layout.packedBytes + layout.blocks + layout.nestedBlocks * 4
    let bits = Double(bytes * 8) / Double(layout.count)
    #expect(abs(bits - 4.127) < 0.001, "\(bits)")
  }
}
