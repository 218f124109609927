import Quantization
import Testing

@Suite struct GGMLDecodeTests {
  /// F32, F16 and BF16 against gguf-py (numpy astype) goldens, bit-exact: the conversions are exact.
  /// Fixtures include ±0, subnormals, ±inf and extremes; NaN patterns were left out on purpose.
  @Test(arguments: [GGMLType.f32, .f16, .bf16])
  func plainTypesMatchGolden(type: GGMLType) throws {
    let bytes = try Fixture.blocks(type)
    let want = try Fixture.expectedBits(type)
    #expect(firstMismatch(decodeBits(type, bytes), want) == nil)
    #expect(firstMismatch(decodeBits(type, bytes, misalign: 1), want) == nil)
  }

  /// Plain types at every short length (vector body plus scalar tail) match the golden prefix.
  @Test(arguments: [GGMLType.f32, .f16, .bf16])
  func plainTypesAtOddCounts(type: GGMLType) throws {
    let bytes = try Fixture.blocks(type)
    let want = try Fixture.expectedBits(type)
    for count in [1, 2, 7, 15, 16, 17, 31, 33, 47, 1023] {
      let got = decodeBits(
        type, Array(bytes[(type.bytesPerBlock)..<(type.bytesPerBlock * (count + 1))]), misalign: 1)
      #expect(firstMismatch(got, Array(want[1..<(count + 1)])) == nil, "count \(count)")
    }
  }

  /// Decoding a long row in one call equals decoding it block by block into the same positions.
  @Test(arguments: Fixture.goldenTypes)
  func longRowEqualsBlockByBlock(type: GGMLType) throws {
    let once = try Fixture.blocks(type)
    let row = Array([[UInt8]](repeating: once, count: 5).joined())  // several KB, odd offsets
    let count = row.count / type.bytesPerBlock * type.blockSize
    let whole = decodeBits(type, row)
    var pieces = [Float](repeating: .nan, count: count)
    row.withUnsafeBytes { src in
      pieces.withUnsafeMutableBufferPointer { dst in
        for b in 0..<(count / type.blockSize) {
          ggmlDecode(
            type, from: src.baseAddress! + b * type.bytesPerBlock,
            to: dst.baseAddress! + b * type.blockSize, count: type.blockSize)
        }
      }
    }
    #expect(firstMismatch(whole, pieces.map(\.bitPattern)) == nil)
  }

  /// A zero count touches nothing.
  @Test(arguments: Fixture.goldenTypes)
  func zeroCountIsNoOp(type: GGMLType) {
    var sentinel: Float = 42
    let byte: UInt8 = 0
    withUnsafeBytes(of: byte) { ggmlDecode(type, from: $0.baseAddress!, to: &sentinel, count: 0) }
    #expect(sentinel == 42)
  }
}
