import Quantization
import Testing

/// Q2_K ... Q6_K against gguf-py goldens. Tolerance: none, bit-exact. Sub-block products
/// (d·scale, dmin·min) are formed first and then each weight takes one multiply and at most one
/// subtract, in ggml's order, with no FMA contraction; numpy evaluates the same float32 expression.
@Suite struct KQuantBlocksTests {
  static let types: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

  @Test(arguments: types)
  func matchesGolden(type: GGMLType) throws {
    let blocks = try Fixture.blocks(type)
    let want = try Fixture.expectedBits(type)
    #expect(blocks.count == type.byteCount(elements: want.count))
    #expect(firstMismatch(decodeBits(type, blocks), want) == nil)
    #expect(firstMismatch(decodeBits(type, blocks, misalign: 1), want) == nil)
  }

  /// Q4_K scale/min unpacking by hand: scales 0-3 in bytes 0-3, scales 4-7 split between byte 8+
  /// low nibbles and the top bits of bytes 0-3. Set sub-block 5's scale to 0b11_0010 = 50 and its
  /// min to 0b10_0111 = 39, all others 0, d = 1, dmin = 1, every nibble 3.
  @Test func handBuiltQ4_KScaleMin() {
    var block = [UInt8](repeating: 0, count: 144)
    block[0] = 0x00
    block[1] = 0x3C  // d = 1
    block[2] = 0x00
    block[3] = 0x3C  // dmin = 1
    let scales = 4
    block[scales + 9] = 0x72  // byte 8 + (5 - 4): low nibble scale 5 = 2, high nibble min 5 = 7
    block[scales + 1] = 0xC0  // top bits of scale 5 (from byte 5 - 4 = 1): 0b11
    block[scales + 5] = 0x80  // top bits of min 5 (from byte 5): 0b10
    for i in 16..<144 { block[i] = 0x33 }
    let got = decodeBits(.q4_K, block).map { Float(bitPattern: $0) }
    for i in 0..<256 {
      let expected: Float = i / 32 == 5 ? 50 * 3 - 39 : 0
      #expect(got[i] == expected, "weight \(i)")
    }
  }
}
