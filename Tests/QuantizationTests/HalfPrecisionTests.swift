import Quantization
import Testing

@Suite struct HalfPrecisionTests {
  static func isHalfNaN(_ bits: UInt16) -> Bool { bits & 0x7C00 == 0x7C00 && bits & 0x03FF != 0 }

  /// fp16 -> fp32 is exact, so it must agree bit for bit with Swift's own Float16 widening.
  @Test func halfToFloatMatchesFloat16ForAllPatterns() {
    var mismatches = 0
    for raw in 0...UInt32(UInt16.max) {
      let bits = UInt16(raw)
      let got = floatFromHalfBits(bits)
      if Self.isHalfNaN(bits) {
        if !got.isNaN { mismatches += 1 }
      } else if got.bitPattern != Float(Float16(bitPattern: bits)).bitPattern {
        mismatches += 1
      }
    }
    #expect(mismatches == 0)
  }

  /// Every non-NaN half survives half -> float -> half unchanged (including ±0, subnormals, ±inf).
  @Test func halfRoundTripForAllPatterns() {
    var failures: [UInt16] = []
    for raw in 0...UInt32(UInt16.max) where !Self.isHalfNaN(UInt16(raw)) {
      let bits = UInt16(raw)
      if halfBitsFromFloat(floatFromHalfBits(bits)) != bits { failures.append(bits) }
    }
    #expect(failures.isEmpty, "first failures: \(failures.prefix(5))")
    for raw in 0...UInt32(UInt16.max) where Self.isHalfNaN(UInt16(raw)) {
      #expect(Self.isHalfNaN(halfBitsFromFloat(floatFromHalfBits(UInt16(raw)))))
      if raw > 0x7E00 { break }  // a few NaNs are enough
    }
  }

  /// Rounding: round-to-nearest-even on ties, overflow to inf, underflow through subnormals to 0;
  /// compared with Swift's `Float16(Float)` (IEEE conversion) on edge cases and seeded random floats.
  @Test func floatToHalfMatchesFloat16Rounding() {
    var values: [Float] = [
      0, -0, 1, -1, 65504, 65519.996, 65520, -65520, 1e6, .infinity, -.infinity,
      .leastNonzeroMagnitude, 2.98e-8, 2.9802322e-8, 5.96e-8, 6.1e-5, 6.103515625e-05,
      1 + 0x1p-11, 1 + 0x1p-11 + 0x1p-23, 1 + 3 * 0x1p-11, 0x1p-25, 0x1.8p-25,
      .greatestFiniteMagnitude,
    ]
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for _ in 0..<200_000 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let bits = UInt32(truncatingIfNeeded: state >> 32)
      // Bias exponents into and around the fp16 range (2^-30 ... 2^17) so rounding paths are hit.
      let exponent = UInt32(97 + (bits >> 8) % 48) << 23
      values.append(Float(bitPattern: (bits & 0x807F_FFFF) | exponent))
      values.append(Float(bitPattern: bits))
    }
    var mismatches: [Float] = []
    for v in values where !v.isNaN {
      if halfBitsFromFloat(v) != Float16(v).bitPattern { mismatches.append(v) }
    }
    #expect(mismatches.isEmpty, "first: \(mismatches.prefix(5))")
    #expect(halfBitsFromFloat(.nan) & 0x7FFF == 0x7E00)
  }

  /// The 16-lane fp16 row decoder (used by `ggmlDecode(.f16, ...)`) equals the scalar conversion on
  /// every pattern, including the scalar tail when the count is not a multiple of 16.
  @Test func halfRowDecoderMatchesScalarForAllPatterns() {
    let patterns = (0...UInt32(UInt16.max)).map { UInt16($0) }
    var out = [Float](repeating: 0, count: patterns.count)
    patterns.withUnsafeBytes { src in
      out.withUnsafeMutableBufferPointer {
        ggmlDecode(.f16, from: src.baseAddress! + 2, to: $0.baseAddress!, count: patterns.count - 7)
      }
    }
    var mismatches = 0
    for i in 0..<(patterns.count - 7) {
      let want = floatFromHalfBits(patterns[i + 1])
      if want.isNaN ? !out[i].isNaN : out[i].bitPattern != want.bitPattern { mismatches += 1 }
    }
    #expect(mismatches == 0)
  }

  @Test func bfloat16IsUpperHalf() {
    #expect(floatFromBFloat16Bits(0x3F80) == 1)
    #expect(floatFromBFloat16Bits(0xC000) == -2)
    #expect(floatFromBFloat16Bits(0x7F80) == .infinity)
    #expect(floatFromBFloat16Bits(0x0001).bitPattern == 0x0001_0000)
    #expect(floatFromBFloat16Bits(0x7FC0).isNaN)
  }
}
