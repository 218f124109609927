/// Decoders for the 32-weight "legacy" ggml blocks: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
///
/// Layout of one block (little-endian, no padding), weights y[0..<32]:
///   Q4_0 (18 B): d:f16, qs[16]            y[j] = d·((qs[j]&15) − 8),  y[j+16] = d·((qs[j]>>4) − 8)
///   Q4_1 (20 B): d:f16, m:f16, qs[16]     y[j] = d·(qs[j]&15) + m,    y[j+16] = d·(qs[j]>>4) + m
///   Q5_0 (22 B): d:f16, qh:u32, qs[16]    as Q4_0 with bit j of qh (j+16 for the high half) as bit 4
///                                         of the quant, zero point 16
///   Q5_1 (24 B): d:f16, m:f16, qh:u32, qs[16]   as Q4_1 with the same fifth bit
///   Q8_0 (34 B): d:f16, qs[32]:i8         y[j] = qs[j]·d
/// The products are written in the same order as ggml (one multiply, then one add; Swift never
/// contracts to FMA), so results are bit-identical to ggml and gguf-py.
/// ref: ggml/src/ggml-quants.c dequantize_row_q4_0 / _q4_1 / _q5_0 / _q5_1 / _q8_0;
///      ggml/src/ggml-common.h block_q4_0 ... block_q8_0.

/// Q4_0: `blocks` blocks of 18 bytes at `x` to 32·blocks floats at `y`.
func decodeQ4_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, blocks: Int) {
  for b in 0..<blocks {
    let p = x + b &* 18
    let out = y + b &* 32
    let d = loadHalf(p, 0)
    let q = loadBytes16(p, 2)
    store16(floats(q & 0x0F, minus: 8) * d, out, 0)
    store16(floats(q &>> 4, minus: 8) * d, out, 16)
  }
}

/// Q4_1: `blocks` blocks of 20 bytes at `x` to 32·blocks floats at `y`.
func decodeQ4_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, blocks: Int) {
  for b in 0..<blocks {
    let p = x + b &* 20
    let out = y + b &* 32
    let d = loadHalf(p, 0)
    let m = loadHalf(p, 2)
    let q = loadBytes16(p, 4)
    store16(floats(q & 0x0F) * d + m, out, 0)
    store16(floats(q &>> 4) * d + m, out, 16)
  }
}

/// The fifth bits of a Q5 block: lane j of the result is 16 if bit `j + first` of `qh` is set.
///
/// Done on bytes with uniform shifts only: broadcast the two bytes of qh holding the 16 bits, AND
/// lane j with 1 << (j % 8), then t + 127 has its top bit set iff t != 0. Per-lane variable shifts
/// (no such instruction on baseline x86-64) ran 2× slower, and `replacing(with:where:)` 13× slower.
@inline(__always)
func fifthBits(_ qh: UInt32, first: UInt32) -> SIMD16<UInt8> {
  let half = qh &>> first
  let bytes = SIMD16<UInt8>(
    lowHalf: SIMD8(repeating: UInt8(truncatingIfNeeded: half)),
    highHalf: SIMD8(repeating: UInt8(truncatingIfNeeded: half &>> 8)))
  let mask = SIMD16<UInt8>(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128)
  return (((bytes & mask) &+ 0x7F) &>> 7) &<< 4
}

/// Q5_0: `blocks` blocks of 22 bytes at `x` to 32·blocks floats at `y`.
func decodeQ5_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, blocks: Int) {
  for b in 0..<blocks {
    let p = x + b &* 22
    let out = y + b &* 32
    let d = loadHalf(p, 0)
    let qh = loadUInt32(p, 2)
    let q = loadBytes16(p, 6)
    store16(floats((q & 0x0F) | fifthBits(qh, first: 0), minus: 16) * d, out, 0)
    store16(floats((q &>> 4) | fifthBits(qh, first: 16), minus: 16) * d, out, 16)
  }
}

/// Q5_1: `blocks` blocks of 24 bytes at `x` to 32·blocks floats at `y`.
func decodeQ5_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, blocks: Int) {
  for b in 0..<blocks {
    let p = x + b &* 24
    let out = y + b &* 32
    let d = loadHalf(p, 0)
    let m = loadHalf(p, 2)
    let qh = loadUInt32(p, 4)
    let q = loadBytes16(p, 8)
    store16(floats((q & 0x0F) | fifthBits(qh, first: 0)) * d + m, out, 0)
    store16(floats((q &>> 4) | fifthBits(qh, first: 16)) * d + m, out, 16)
  }
}

/// Q8_0: `blocks` blocks of 34 bytes at `x` to 32·blocks floats at `y`.
func decodeQ8_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, blocks: Int) {
  for b in 0..<blocks {
    let p = x + b &* 34
    let out = y + b &* 32
    let d = loadHalf(p, 0)
    for h in 0..<2 {
      let q = p.loadUnaligned(fromByteOffset: 2 &+ 16 &* h, as: SIMD16<Int8>.self)
      store16(SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q)) * d, out, 16 &* h)
    }
  }
}
