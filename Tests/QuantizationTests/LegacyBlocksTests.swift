import Quantization
import Testing

/// Q4_0 ... Q8_0 against gguf-py goldens. Tolerance: none, bit-exact. Each weight is one fp32
/// multiply (and for Q4_1/Q5_1 one add) of exactly representable operands, done in the same order
/// as ggml and numpy, with no FMA contraction on either side, so any difference is a bug.
@Suite struct LegacyBlocksTests {
  static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0]

  @Test(arguments: types)
  func matchesGolden(type: GGMLType) throws {
    let blocks = try Fixture.blocks(type)
    let want = try Fixture.expectedBits(type)
    #expect(blocks.count == type.byteCount(elements: want.count))
    #expect(firstMismatch(decodeBits(type, blocks), want) == nil)
    #expect(firstMismatch(decodeBits(type, blocks, misalign: 3), want) == nil)
  }

  /// A hand-built block, independent of any reference: d = 0.5, m = -1, nibbles j and 15 - j.
  @Test func handBuiltQ4_1Block() {
    var block: [UInt8] = [0x00, 0x38, 0x00, 0xBC]  // fp16 0.5, fp16 -1.0
    for j in 0..<16 { block.append(UInt8(j) | UInt8(15 - j) << 4) }
    let got = decodeBits(.q4_1, block).map { Float(bitPattern: $0) }
    for j in 0..<16 {
      #expect(got[j] == 0.5 * Float(j) - 1)
      #expect(got[j + 16] == 0.5 * Float(15 - j) - 1)
    }
  }

  /// Q5_0's fifth bit: bit j of qh belongs to weight j, bit j + 16 to weight j + 16.
  @Test func handBuiltQ5_0HighBits() {
    var block: [UInt8] = [0x00, 0x3C, 0x01, 0x00, 0x01, 0x80]  // d = 1, qh bits 0, 16, 31
    block += [UInt8](repeating: 0, count: 16)
    let got = decodeBits(.q5_0, block).map { Float(bitPattern: $0) }
    var want = [Float](repeating: -16, count: 32)
    want[0] = 0
    want[16] = 0
    want[31] = 0
    #expect(got == want)
  }
}
