/// IEEE binary16 (fp16) and bfloat16 bit patterns to and from `Float`.
///
/// Done with integer bit manipulation rather than `Float16`: on baseline x86-64 (no F16C) every
/// `Float(Float16)` is a compiler-rt libcall, while these are a handful of integer/float ops that
/// inline and vectorize inside the row decoders.
/// ref: Marat Dukhan's FP16 library (fp16_ieee_to_fp32_value / fp16_ieee_from_fp32_value), the
///      same algorithm ggml uses in ggml-impl.h ggml_compute_fp16_to_fp32 / _fp32_to_fp16.

/// The `Float` that an IEEE fp16 bit pattern denotes; exact for every finite value, ±inf for
/// infinities, a quiet NaN for NaN patterns.
@inlinable @inline(__always)
public func floatFromHalfBits(_ bits: UInt16) -> Float {
  let w = UInt32(bits) &<< 16
  let sign = w & 0x8000_0000
  let twoW = w &+ w
  // Normal numbers (and inf/NaN): move exponent+mantissa into fp32 position with the exponent
  // biased up by 224, then scale by 2^-112 so the net rebias is +112 = 127 - 15. The multiply also
  // turns the over-biased 0x1F exponent into 0xFF (inf/NaN).
  let normalized = Float(bitPattern: (twoW &>> 4) &+ (0xE0 &<< 23)) * Float(bitPattern: 0x0780_0000)
  // Subnormals: put the 10-bit mantissa under a 0.5 exponent and subtract 0.5 (exact).
  let denormalized = Float(bitPattern: (twoW &>> 17) | (126 &<< 23)) - 0.5
  let magnitude = twoW < (1 &<< 27) ? denormalized.bitPattern : normalized.bitPattern
  return Float(bitPattern: sign | magnitude)
}

/// The `Float` that a bfloat16 bit pattern denotes (the upper half of an fp32; always exact).
@inlinable @inline(__always)
public func floatFromBFloat16Bits(_ bits: UInt16) -> Float {
  Float(bitPattern: UInt32(bits) &<< 16)
}

/// The fp16 bit pattern nearest to `value`, ties to even; overflow gives ±inf, NaN gives the quiet
/// NaN 0x7E00 (sign kept). Matches `Float16(value).bitPattern` for every non-NaN input.
public func halfBitsFromFloat(_ value: Float) -> UInt16 {
  // 2^112 then 2^-110: saturates values beyond fp16 range to inf and pre-rounds the rest.
  var base = (abs(value) * Float(bitPattern: 0x7780_0000)) * Float(bitPattern: 0x0880_0000)
  let w = value.bitPattern
  let shl1W = w &+ w
  let sign = w & 0x8000_0000
  var bias = shl1W & 0xFF00_0000
  if bias < 0x7100_0000 { bias = 0x7100_0000 }
  // Adding 2^(e-1 + 13 - 23 ...) makes the fp32 adder round the mantissa to 10 bits, ties to even.
  base = Float(bitPattern: (bias &>> 1) &+ 0x0780_0000) + base
  let bits = base.bitPattern
  let expBits = (bits &>> 13) & 0x0000_7C00
  let mantissaBits = bits & 0x0000_0FFF
  let nonsign = expBits &+ mantissaBits
  let magnitude = shl1W > 0xFF00_0000 ? UInt32(0x7E00) : nonsign
  return UInt16(truncatingIfNeeded: (sign &>> 16) | magnitude)
}

/// fp16 row to fp32: `count` little-endian halves at `source` (any alignment) to `destination`.
/// ref: dequantize_row_f16 equivalent ggml_fp16_to_fp32_row (ggml.c).
@usableFromInline
func decodeHalfRow(
  _ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int
) {
  var i = 0
  #if _endian(little)  // the vector body reads lanes in memory order; big-endian takes the tail loop
    while i &+ 16 <= count {
      let bits = source.loadUnaligned(fromByteOffset: 2 &* i, as: SIMD16<UInt16>.self)
      UnsafeMutableRawPointer(destination + i).storeBytes(
        of: floatsFromHalfBits(bits), as: SIMD16<Float>.self)
      i &+= 16
    }
  #endif
  while i < count {
    let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self))
    destination[i] = floatFromHalfBits(bits)
    i &+= 1
  }
}

/// `floatFromHalfBits` on 16 lanes at once (same algorithm, a bitwise blend instead of a branch).
/// The stdlib has no vector `bitPattern`, so fp32/UInt32 vectors are reinterpreted with
/// `unsafeBitCast` (same size, both trivial: a pure register reinterpretation).
@inline(__always)
func floatsFromHalfBits(_ bits: SIMD16<UInt16>) -> SIMD16<Float> {
  let w: SIMD16<UInt32> = SIMD16<UInt32>(truncatingIfNeeded: bits) &<< 16
  let sign: SIMD16<UInt32> = w & 0x8000_0000
  let twoW: SIMD16<UInt32> = w &+ w
  let expOffset = SIMD16<UInt32>(repeating: 0xE0 << 23)
  let normalizedBits: SIMD16<UInt32> = (twoW &>> 4) &+ expOffset
  let scale = SIMD16<Float>(repeating: Float(bitPattern: 0x0780_0000))
  let normalized: SIMD16<Float> = unsafeBitCast(normalizedBits, to: SIMD16<Float>.self) * scale
  let magic = SIMD16<UInt32>(repeating: 126 << 23)
  let denormalizedBits: SIMD16<UInt32> = (twoW &>> 17) | magic
  let denormalized: SIMD16<Float> = unsafeBitCast(denormalizedBits, to: SIMD16<Float>.self) - 0.5
  // All-ones lanes where twoW < 2^27 (zero exponent), built arithmetically: a vector select via
  // `replacing(with:where:)` compiled to much slower code.
  let isSubnormal: SIMD16<UInt32> = 0 &- (((twoW &>> 27) &- 1) &>> 31)
  let magnitude =
    (unsafeBitCast(normalized, to: SIMD16<UInt32>.self) & ~isSubnormal)
    | (unsafeBitCast(denormalized, to: SIMD16<UInt32>.self) & isSubnormal)
  return unsafeBitCast(sign | magnitude, to: SIMD16<Float>.self)
}

/// bfloat16 row to fp32: `count` little-endian bf16 values at `source` to `destination`.
/// ref: ggml_bf16_to_fp32_row (ggml.c).
@usableFromInline
func decodeBFloat16Row(
  _ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int
) {
  for i in 0..<count {
    let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self))
    destination[i] = floatFromBFloat16Bits(bits)
  }
}

/// fp32 row copy: `count` little-endian floats at `source` (any alignment) to `destination`.
@usableFromInline
func decodeFloatRow(
  _ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int
) {
  #if _endian(little)
    UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: 4 &* count)
  #else
    for i in 0..<count {
      let bits = UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 &* i, as: UInt32.self))
      destination[i] = Float(bitPattern: bits)
    }
  #endif
}
