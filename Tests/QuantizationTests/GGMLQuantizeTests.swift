import Foundation
import Quantization
import Testing

/// ggmlQuantize against llama.cpp's own reference quantizers and gguf-py's numpy port, byte for byte, on the goldens
/// of Tools/reference/make_quantize_goldens.py (Fixtures/quantize: 18 super-blocks of edge cases, cases.txt); then
/// round-trip error bounds through ggmlDecode, block independence, non-finite input, and llama.cpp's fallback table.
@Suite struct GGMLQuantizeTests {
  static let types: [GGMLType] = [.f32, .f16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]
  /// The types gguf-py 0.19.0 can quantize (its K-quant classes only dequantize).
  static let ggufPyTypes: [GGMLType] = [.f16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0]
  static let directory = Fixture.directory.appendingPathComponent("quantize")

  static func input() throws -> [Float] {
    let raw = [UInt8](try Data(contentsOf: directory.appendingPathComponent("input.f32")))
    return stride(from: 0, to: raw.count, by: 4).map { i in
      Float(bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
    }
  }

  static func expected(_ source: String, _ type: GGMLType) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: directory.appendingPathComponent(source).appendingPathComponent("\(type.name).bin")))
  }

  /// The first block whose bytes differ, named by its golden case (one 256-weight super-block per case), or nil.
  static func firstBlockMismatch(_ type: GGMLType, _ got: [UInt8], _ want: [UInt8]) throws -> String? {
    guard got.count == want.count else { return "\(got.count) bytes, want \(want.count)" }
    let size = type.bytesPerBlock
    let bytes = { (b: Int) in (b * size)..<(b * size + size) }
    guard let block = (0..<(got.count / size)).first(where: { got[bytes($0)] != want[bytes($0)] }) else { return nil }
    let text = String(decoding: try Data(contentsOf: directory.appendingPathComponent("cases.txt")), as: UTF8.self)
    let cases = text.split(separator: "\n")
    let name = cases[block * type.blockSize / 256]
    let hex = { (b: ArraySlice<UInt8>) in b.map { String(format: "%02x", $0) }.joined() }
    return "block \(block) (case \(name)): got \(hex(got[bytes(block)])), want \(hex(want[bytes(block)]))"
  }

  /// The bytes `ggmlQuantize` writes for `x`, written at `misalign` bytes past an aligned address.
  static func quantize(_ type: GGMLType, _ x: [Float], misalign: Int = 0) -> [UInt8] {
    let bytes = type.byteCount(elements: x.count)!
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes + misalign + 1, alignment: 64)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 0xA5, count: bytes + misalign + 1)
    x.withUnsafeBufferPointer { ggmlQuantize(type, from: $0.baseAddress!, count: x.count, to: buffer + misalign) }
    #expect(buffer.load(fromByteOffset: bytes + misalign, as: UInt8.self) == 0xA5, "wrote past the end")
    return [UInt8](UnsafeRawBufferPointer(start: buffer + misalign, count: bytes))
  }

  static func decode(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: count)
    bytes.withUnsafeBytes { b in
      out.withUnsafeMutableBufferPointer { ggmlDecode(type, from: b.baseAddress!, to: $0.baseAddress!, count: count) }
    }
    return out
  }

  @Test func quantizableTypesAreTheseAndDecodable() {
    #expect(GGMLType.allCases.filter(\.isQuantizable) == Self.types)
    #expect(Self.types.allSatisfy { $0.isDecodable })
  }

  /// The truth: llama.cpp's quantize_row_*_ref (what llama-quantize runs without an importance matrix), compiled from
  /// the llama.cpp that Tools/build-llama-cpp builds; the script also found these goldens identical to what that
  /// llama-quantize writes. Byte for byte, also into a misaligned destination.
  @Test(arguments: types.filter { $0 != .f32 })
  func matchesLlamaCpp(type: GGMLType) throws {
    let x = try Self.input()
    let want = try Self.expected("ggml", type)
    let aligned = try Self.firstBlockMismatch(type, Self.quantize(type, x), want)
    let misaligned = try Self.firstBlockMismatch(type, Self.quantize(type, x, misalign: 3), want)
    #expect(aligned == nil)
    #expect(misaligned == nil)
  }

  /// A second, independent implementation: gguf-py's numpy quantizers, byte for byte.
  @Test(arguments: ggufPyTypes)
  func matchesGGUFPy(type: GGMLType) throws {
    let x = try Self.input()
    let mismatch = try Self.firstBlockMismatch(type, Self.quantize(type, x), Self.expected("gguf-py", type))
    #expect(mismatch == nil)
  }

  @Test func f32IsALittleEndianCopy() throws {
    let x = try Self.input()
    let raw = [UInt8](try Data(contentsOf: Self.directory.appendingPathComponent("input.f32")))
    #expect(Self.quantize(.f32, x, misalign: 1) == raw)
  }

  /// Relative RMS error bounds for N(0, 1) weights, from the rounding step s of each format (error ≈ s/√12), with
  /// 1.4-2× margin over what this data measures (in brackets): Q8_0 s = max|x|/127 over 32 weights, max ≈ 2.1σ
  /// (0.0053); Q4_0 s = max|x|/8 (0.084) and Q4_1 s = range/15 (0.076); Q5_0, Q5_1 half those (0.043, 0.037); Q4_K,
  /// Q5_K below Q4_1, Q5_1 by their scale search (0.070, 0.035); Q6_K s ≈ max|x|/32 over 16 weights (0.0175); F16
  /// 2^-11 relative (2.1e-4); F32 exact.
  static let bound: [GGMLType: Double] = [
    .f32: 0, .f16: 5e-4, .q8_0: 0.01, .q4_0: 0.12, .q4_1: 0.12, .q5_0: 0.06, .q5_1: 0.06, .q4_K: 0.10,
    .q5_K: 0.05, .q6_K: 0.025,
  ]

  /// Quantize then decode 16 super-blocks of N(0, 1) weights within `bound`, and an all-zero super-block back to
  /// exact zeros.
  @Test(arguments: types)
  func roundTrip(type: GGMLType) throws {
    var rng = SplitMix64(seed: 0x9_6E3A)
    let x = (0..<(16 * 256)).map { _ in gaussianSample(&rng) } + [Float](repeating: 0, count: 256)
    let y = Self.decode(type, Self.quantize(type, x), count: x.count)
    let bound = try #require(Self.bound[type])
    let error = relativeRMS(Array(x[..<4096]), Array(y[..<4096]))
    #expect(error <= bound, "\(type.name): relative RMS \(error) > \(bound)")
    #expect(y[4096...].allSatisfy { $0 == 0 }, "zeros must stay zero")
  }

  /// One outlier in a super-block of N(0, 1) weights: the outlier itself always decodes within `bound` of its value.
  /// At 50σ (LLM weights have such) the weights outside its 32-group keep `bound`, or 1.5× it for the K-quants whose
  /// 6- and 8-bit sub-block scales are now fractions of the outlier's (measured Q4_K 0.084, Q5_K 0.052, Q6_K 0.029).
  /// At 1000σ the 32-weight types still keep `bound` there, while ggml's K-quants give the rest of the super-block up
  /// (Q6_K rounds its other sub-block scales to 0; Q4_K, Q5_K err by 2.2× the signal): the reference's behaviour, matched
  /// byte for byte by `matchesLlamaCpp` (case "outliers"), so it is not asserted against here.
  @Test(arguments: types, [Float(50), 1000])
  func outlier(type: GGMLType, magnitude: Float) throws {
    var rng = SplitMix64(seed: 0x0_7713)
    var x = (0..<256).map { _ in gaussianSample(&rng) }
    x[77] = magnitude
    let y = Self.decode(type, Self.quantize(type, x), count: x.count)
    let bound = try #require(Self.bound[type])
    #expect(abs(Double(y[77]) - Double(magnitude)) <= Double(magnitude) * bound, "outlier decoded as \(y[77])")
    let isK = type.blockSize == 256
    guard !(isK && magnitude > 100) else { return }
    let others = Array(0..<64) + Array(96..<256)  // outside the outlier's 32-group 64 ..< 96
    let error = relativeRMS(others.map { x[$0] }, others.map { y[$0] })
    let allowed = bound * (isK ? 1.5 : 1)
    #expect(error <= allowed, "\(type.name): relative RMS \(error) > \(allowed) beside a \(magnitude) outlier")
  }

  /// Blocks are independent: one call over many blocks writes what block-by-block calls write.
  @Test(arguments: types)
  func oneCallEqualsBlockByBlock(type: GGMLType) throws {
    let x = try Self.input()
    let whole = Self.quantize(type, x)
    var pieces: [UInt8] = []
    for start in stride(from: 0, to: x.count, by: type.blockSize) {
      pieces += Self.quantize(type, Array(x[start..<(start + type.blockSize)]))
    }
    #expect(whole == pieces)
  }

  /// NaN, ±inf, fp32 subnormals and values beyond nearest_int's range (where ggml's C is undefined) never trap, and do
  /// not reach the blocks around them.
  @Test(arguments: types)
  func nonFiniteInputNeverTraps(type: GGMLType) throws {
    let x = try Self.input()
    var bad = Array(x[..<256])
    bad[3] = .nan
    bad[40] = .infinity
    bad[200] = -.infinity
    // All fp32 subnormals: a block maximum whose reciprocal scale overflows to infinity.
    let subnormal = (0..<256).map { Float($0 % 2 == 0 ? $0 : -$0) * .leastNonzeroMagnitude }
    // Near Float.greatestFiniteMagnitude beside subnormals: squares and ranges overflow, nearest_int's range is left.
    let hugeAndTiny = (0..<256).map { $0 == 0 ? Float(3e38) : Float($0) * .leastNormalMagnitude / 64 }
    let got = Self.quantize(type, bad + subnormal + hugeAndTiny + Array(x[..<256]))
    let tail = got.suffix(type.byteCount(elements: 256)!)
    #expect(Array(tail) == Self.quantize(type, Array(x[..<256])))
  }

  /// llama.cpp's tensor_type_fallback: each row length that a type's block does not divide.
  @Test(arguments: [
    (GGMLType.q4_K, 576, GGMLType.q5_0), (.q5_K, 576, .q5_1), (.q6_K, 576, .q8_0),
    (.q4_K, 4096, .q4_K), (.q5_K, 256, .q5_K), (.q6_K, 49152, .q6_K), (.q4_K, 0, .q4_K),
    (.q4_K, 100, .f16), (.q6_K, 48, .f16), (.q5_K, 8, .f16),
    (.q2_K, 96, .q4_0), (.q3_K, 96, .q4_0), (.tq1_0, 96, .q4_0), (.tq2_0, 96, .q4_0),
    (.iq2_xxs, 96, .iq4_nl), (.iq1_m, 96, .iq4_nl), (.iq4_xs, 96, .iq4_nl), (.iq3_s, 33, .f16),
    (.q8_0, 96, .q8_0), (.q8_0, 100, .f16), (.q4_0, 48, .f16), (.q5_1, 31, .f16), (.iq4_nl, 40, .f16),
    (.f16, 7, .f16), (.f32, 3, .f32), (.q8_K, 96, .f16),
  ])
  func fallback(target: GGMLType, rowLength: Int, want: GGMLType) {
    #expect(quantizationType(for: target, rowLength: rowLength) == want)
  }
}

/// sqrt(Σ(x − y)² / Σx²), in Double.
private func relativeRMS(_ x: [Float], _ y: [Float]) -> Double {
  var err = 0.0
  var ref = 0.0
  for (a, b) in zip(x, y) {
    err += (Double(a) - Double(b)) * (Double(a) - Double(b))
    ref += Double(a) * Double(a)
  }
  return (err / ref).squareRoot()
}

/// One N(0, 1) sample (Box-Muller on two uniform draws).
private func gaussianSample(_ rng: inout SplitMix64) -> Float {
  let u1 = Double(rng.next() >> 11 | 1) * 0x1p-53
  let u2 = Double(rng.next() >> 11) * 0x1p-53
  return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
}

/// A seeded generator for reproducible test inputs (splitmix64).
private struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
