/// Encodes fp32 weights as ggml blocks: the reference quantizers that `llama-quantize` runs when it is given no
/// importance matrix, bit-identical to them, plus F16 and F32.
///
/// Bit-identity rests on doing ggml's arithmetic in ggml's order: every intermediate is `Float` (ggml-base is C
/// with `FLT_EVAL_METHOD == 0` and no fast-math), fp16 scales are rounded to nearest even as `GGML_FP32_TO_FP16`
/// does and read back before they are used, `nearest_int`'s add-a-magic-number rounding is reproduced bit for bit,
/// and Swift never contracts `a * b + c` into a fused multiply-add. ggml-base is built without `-march` on x86-64,
/// so it does not contract either; a GCC or Clang build on arm64 contracts by default (`-ffp-contract`), and its
/// K-quant bytes can then differ from x86-64's in the last place of a rare scale. These match x86-64.
///
/// Inputs for which ggml's C is undefined (NaN, ±inf, an fp32-subnormal block maximum whose reciprocal overflows)
/// give x86-64's `cvttss2si` result (out of range → `Int32.min`) here and never trap; nothing promises those bytes.
/// ref: ggml/src/ggml-quants.c quantize_row_q4_0_ref ... quantize_row_q8_0_ref, quantize_row_q4_K_ref,
///      quantize_row_q5_K_ref, quantize_row_q6_K_ref (llama.cpp as vendored by llama-cpp-python 0.3.36).

extension GGMLType {
  /// Whether `ggmlQuantize` can encode this type: F32, F16, the five 32-weight legacy types and Q4_K, Q5_K, Q6_K.
  public var isQuantizable: Bool {
    switch self {
    case .f32, .f16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K: true
    default: false
    }
  }
}

/// Quantizes `count` floats at `source` into `type.byteCount(elements: count)` bytes of little-endian ggml blocks at
/// `destination` (any alignment; must not overlap `source`).
///
/// Blocks are independent, so a matrix may be quantized in one call or row by row with the same bytes, provided the
/// row length is a multiple of the block size (choose the type with `quantizationType(for:rowLength:)`).
/// Precondition (a programmer error, as for `ggmlDecode`; callers check first): `type.isQuantizable` and `count` is a
/// non-negative multiple of `type.blockSize`.
/// ref: ggml/src/ggml.c ggml_quantize_chunk with a null importance matrix → quantize_row_*_ref (ggml-quants.c);
///      F16 is ggml_fp32_to_fp16_row, F32 a copy.
public func ggmlQuantize(
  _ type: GGMLType, from source: UnsafePointer<Float>, count: Int, to destination: UnsafeMutableRawPointer
) {
  precondition(type.isQuantizable, "ggmlQuantize: \(type.name) has no quantizer")
  precondition(
    count >= 0 && count % type.blockSize == 0,
    "ggmlQuantize: \(count) is not a multiple of the \(type.name) block size \(type.blockSize)")
  let blocks = count / type.blockSize
  switch type {
  case .f32: encodeFloatRow(source, destination, count: count)
  case .f16: encodeHalfRow(source, destination, count: count)
  case .q4_0: quantizeQ4_0(source, destination, blocks: blocks)
  case .q4_1: quantizeQ4_1(source, destination, blocks: blocks)
  case .q5_0: quantizeQ5_0(source, destination, blocks: blocks)
  case .q5_1: quantizeQ5_1(source, destination, blocks: blocks)
  case .q8_0: quantizeQ8_0(source, destination, blocks: blocks)
  case .q4_K: quantizeQ4_K(source, destination, blocks: blocks)
  case .q5_K: quantizeQ5_K(source, destination, blocks: blocks)
  case .q6_K: quantizeQ6_K(source, destination, blocks: blocks)
  default: preconditionFailure("unreachable: isQuantizable checked above")
  }
}

/// The type llama.cpp writes for a tensor whose rows hold `rowLength` weights when `target` was asked for: `target`
/// itself when its block size divides the row; otherwise a 32-weight type (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0,
/// Q2_K/Q3_K/TQ1_0/TQ2_0 → Q4_0, the 256-weight IQ types → IQ4_NL); and F16 when that still does not divide the row
/// (a 32-weight target has nothing smaller to fall back to, so it goes straight to F16).
///
/// llama.cpp throws for a 256-weight type with no fallback (only Q8_K, never a file type); this answers F16 for it.
/// ref: src/llama-quant.cpp tensor_type_fallback (llama.cpp as vendored by llama-cpp-python 0.3.36).
public func quantizationType(for target: GGMLType, rowLength: Int) -> GGMLType {
  guard rowLength % target.blockSize != 0 else { return target }
  let fallback: GGMLType =
    switch target {
    case .iq1_s, .iq1_m, .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq4_xs: .iq4_nl
    case .q2_K, .q3_K, .tq1_0, .tq2_0: .q4_0
    case .q4_K: .q5_0
    case .q5_K: .q5_1
    case .q6_K: .q8_0
    default: target
    }
  return rowLength % fallback.blockSize == 0 ? fallback : .f16
}

// MARK: - Arithmetic shared by the quantizers

/// ggml's `nearest_int`: round to nearest, ties to even, by adding 1.5·2^23 so that the FPU rounds away the
/// fraction, then reading the low 23 bits. Exact for |x| < 2^22; beyond that (ggml asserts against it only in debug
/// builds) it wraps the same way ggml's does, and NaN gives 0. Never traps.
/// ref: ggml-quants.c nearest_int.
@inline(__always)
func nearestInt(_ x: Float) -> Int32 {
  let shifted = x + 12_582_912
  return Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) &- 0x0040_0000
}

/// C's `(int)x` for a float as x86-64 computes it (`cvttss2si`): truncation toward zero, and `Int32.min` for NaN and
/// values out of `Int32`'s range, where C is undefined and Swift's `Int32(x)` would trap.
@inline(__always)
func truncatedInt32(_ x: Float) -> Int32 {
  // -2^31 - 256 is the Float just below -2^31, 2^31 the one just above Int32.max.
  x > -2_147_483_904 && x < 2_147_483_648 ? Int32(x) : .min
}

/// C's `(int8_t)x` for a float: the low byte of `truncatedInt32(x)`, as GCC converts on x86-64.
@inline(__always)
func truncatedInt8(_ x: Float) -> Int8 {
  Int8(truncatingIfNeeded: truncatedInt32(x))
}

/// ggml's `GROUP_MAX_EPS` (`1e-15f`): a group whose largest magnitude is below it is all zero. Written as bits so the
/// constant is the C compiler's `1e-15f` whatever the Swift literal path rounds through.
let groupMaxEpsilon = Float(bitPattern: 0x2690_1D7D)

/// `0.1f`, as bits for the same reason; the step between the candidate scales that the K-quant searches try.
let oneTenth = Float(bitPattern: 0x3DCC_CCCD)

/// Writes the fp16 bit pattern nearest to `value` (ties to even, as GGML_FP32_TO_FP16) at `offset` bytes into `p`,
/// little-endian, and returns the Float it denotes, which ggml reads back before using a scale.
@inline(__always)
@discardableResult
func storeHalf(_ value: Float, _ p: UnsafeMutableRawPointer, _ offset: Int) -> Float {
  let bits = halfBitsFromFloat(value)
  p.storeBytes(of: bits.littleEndian, toByteOffset: offset, as: UInt16.self)
  return floatFromHalfBits(bits)
}

/// fp32 to fp16: `count` floats to `count` little-endian halves at `destination` (any alignment).
/// ref: ggml.c ggml_fp32_to_fp16_row (GGML_FP32_TO_FP16 per element).
func encodeHalfRow(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, count: Int) {
  for i in 0..<count {
    destination.storeBytes(of: halfBitsFromFloat(source[i]).littleEndian, toByteOffset: 2 &* i, as: UInt16.self)
  }
}

/// fp32 copy: `count` floats to `count` little-endian floats at `destination` (any alignment).
func encodeFloatRow(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, count: Int) {
  #if _endian(little)
    destination.copyMemory(from: source, byteCount: 4 &* count)
  #else
    for i in 0..<count {
      destination.storeBytes(of: source[i].bitPattern.littleEndian, toByteOffset: 4 &* i, as: UInt32.self)
    }
  #endif
}
