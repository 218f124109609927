/// Reference quantizers for the 32-weight legacy blocks: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (layouts in LegacyBlocks.swift).
///
/// Each block gets one fp16 scale d (and for the _1 types the fp16 minimum m) from the block's extremes; weights are
/// then rounded against the fp32 reciprocal of the unrounded d, as ggml does:
///   Q4_0: d = x[argmax |x|] / −8,  q = min(15, trunc(x/d + 8.5))       (the largest magnitude maps to 0 or 16→15)
///   Q4_1: d = (max − min) / 15,    q = min(15, trunc((x − min)/d + 0.5)), m = min
///   Q5_0: as Q4_0 with −16, 16.5 and 31;  Q5_1: as Q4_1 with 31 (and no clamp, as ggml)
///   Q8_0: d = max |x| / 127,       q = roundf(x/d)  (half away from zero)
/// `(int8_t)` casts of floats truncate toward zero; `truncatedInt8` reproduces them without trapping.
/// ref: ggml/src/ggml-quants.c quantize_row_q4_0_ref, _q4_1_ref, _q5_0_ref, _q5_1_ref, _q8_0_ref.

/// The signed value of largest magnitude among `x[0..<n]` (the first one on ties) and that magnitude, as Q4_0/Q5_0
/// and make_qx_quants look for it (`amax < |v|` updates, so a NaN is never chosen).
@inline(__always)
func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> (value: Float, magnitude: Float) {
  var amax: Float = 0
  var max: Float = 0
  for j in 0..<n {
    let v = x[j]
    if amax < abs(v) {
      amax = abs(v)
      max = v
    }
  }
  return (max, amax)
}

/// The minimum and maximum of `x[0..<n]` as Q4_1/Q5_1 find them (from ±FLT_MAX, `<` and `>` updates).
@inline(__always)
func minMax(_ x: UnsafePointer<Float>, _ n: Int) -> (min: Float, max: Float) {
  var min = Float.greatestFiniteMagnitude
  var max = -Float.greatestFiniteMagnitude
  for j in 0..<n {
    let v = x[j]
    if v < min { min = v }
    if v > max { max = v }
  }
  return (min, max)
}

/// Q4_0: 32·blocks floats at `x` to `blocks` blocks of 18 bytes at `y`. ref: quantize_row_q4_0_ref.
func quantizeQ4_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
  for b in 0..<blocks {
    let xb = x + b &* 32
    let p = y + b &* 18
    let d = signedAbsMax(xb, 32).value / -8
    let id: Float = d != 0 ? 1 / d : 0
    storeHalf(d, p, 0)
    let qs = (p + 2).assumingMemoryBound(to: UInt8.self)
    for j in 0..<16 {
      let x0 = xb[j] * id
      let x1 = xb[j &+ 16] * id
      let xi0 = UInt8(truncatingIfNeeded: min(15, Int32(truncatedInt8(x0 + 8.5))))
      let xi1 = UInt8(truncatingIfNeeded: min(15, Int32(truncatedInt8(x1 + 8.5))))
      qs[j] = xi0 | (xi1 &<< 4)
    }
  }
}

/// Q4_1: 32·blocks floats at `x` to `blocks` blocks of 20 bytes at `y`. ref: quantize_row_q4_1_ref.
func quantizeQ4_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
  for b in 0..<blocks {
    let xb = x + b &* 32
    let p = y + b &* 20
    let (min, max) = minMax(xb, 32)
    let d = (max - min) / 15
    let id: Float = d != 0 ? 1 / d : 0
    storeHalf(d, p, 0)
    storeHalf(min, p, 2)
    let qs = (p + 4).assumingMemoryBound(to: UInt8.self)
    for j in 0..<16 {
      let x0 = (xb[j] - min) * id
      let x1 = (xb[j &+ 16] - min) * id
      let xi0 = UInt8(truncatingIfNeeded: Swift.min(15, Int32(truncatedInt8(x0 + 0.5))))
      let xi1 = UInt8(truncatingIfNeeded: Swift.min(15, Int32(truncatedInt8(x1 + 0.5))))
      qs[j] = xi0 | (xi1 &<< 4)
    }
  }
}

/// Packs the 32 five-bit quants `quant(0) ..< quant(32)` of a Q5 block: the low nibbles of quants j and j + 16 share
/// byte j of `qs`, and bit 4 of quant j becomes bit j of the returned qh.
@inline(__always)
func packFiveBit(into qs: UnsafeMutablePointer<UInt8>, _ quant: (Int) -> UInt8) -> UInt32 {
  var qh: UInt32 = 0
  for j in 0..<16 {
    let xi0 = quant(j)
    let xi1 = quant(j &+ 16)
    qs[j] = (xi0 & 0x0F) | ((xi1 & 0x0F) &<< 4)
    qh |= UInt32((xi0 & 0x10) &>> 4) &<< UInt32(j)
    qh |= UInt32((xi1 & 0x10) &>> 4) &<< UInt32(j &+ 16)
  }
  return qh
}

/// Q5_0: 32·blocks floats at `x` to `blocks` blocks of 22 bytes at `y`. ref: quantize_row_q5_0_ref.
func quantizeQ5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
  for b in 0..<blocks {
    let xb = x + b &* 32
    let p = y + b &* 22
    let d = signedAbsMax(xb, 32).value / -16
    let id: Float = d != 0 ? 1 / d : 0
    storeHalf(d, p, 0)
    let qh = packFiveBit(into: (p + 6).assumingMemoryBound(to: UInt8.self)) { j in
      UInt8(truncatingIfNeeded: min(31, Int32(truncatedInt8(xb[j] * id + 16.5))))
    }
    p.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
  }
}

/// Q5_1: 32·blocks floats at `x` to `blocks` blocks of 24 bytes at `y`. ref: quantize_row_q5_1_ref.
func quantizeQ5_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
  for b in 0..<blocks {
    let xb = x + b &* 32
    let p = y + b &* 24
    let (min, max) = minMax(xb, 32)
    let d = (max - min) / 31
    let id: Float = d != 0 ? 1 / d : 0
    storeHalf(d, p, 0)
    storeHalf(min, p, 2)
    // ggml casts straight to uint8_t here, with no clamp to 31: (x − min)/d + 0.5 stays below 32 for finite input.
    let qh = packFiveBit(into: (p + 8).assumingMemoryBound(to: UInt8.self)) { j in
      UInt8(truncatingIfNeeded: truncatedInt32((xb[j] - min) * id + 0.5))
    }
    p.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
  }
}

/// Q8_0: 32·blocks floats at `x` to `blocks` blocks of 34 bytes at `y`. ref: quantize_row_q8_0_ref.
func quantizeQ8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
  for b in 0..<blocks {
    let xb = x + b &* 32
    let p = y + b &* 34
    var amax: Float = 0
    for j in 0..<32 {
      let a = abs(xb[j])
      amax = amax > a ? amax : a  // ggml's MAX(amax, fabsf(v)), including what it does with a NaN
    }
    let d = amax / 127
    let id: Float = d != 0 ? 1 / d : 0
    storeHalf(d, p, 0)
    let qs = (p + 2).assumingMemoryBound(to: Int8.self)
    for j in 0..<32 {
      qs[j] = truncatedInt8((xb[j] * id).rounded(.toNearestOrAwayFromZero))  // roundf
    }
  }
}
