/// Decoders for the 256-weight K-quant super-blocks: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
///
/// Layout of one super-block (little-endian, no padding), weights y[0..<256]:
///   Q2_K (84 B):  scales[16] (lo nibble scale, hi nibble min), qs[64] (2 bits), d:f16, dmin:f16
///   Q3_K (110 B): hmask[32] (3rd bit), qs[64] (2 low bits), scales[12] (16 × 6-bit, −32), d:f16
///   Q4_K (144 B): d:f16, dmin:f16, scales[12] (8 × 6-bit scale + 8 × 6-bit min), qs[128] (4 bits)
///   Q5_K (176 B): d:f16, dmin:f16, scales[12] (as Q4_K), qh[32] (5th bit), qs[128] (4 low bits)
///   Q6_K (210 B): ql[128] (4 low bits), qh[64] (2 high bits), scales[16]:i8, d:f16
/// Sub-block scale products (d·sc, dmin·m) are formed first and then applied per weight, in ggml's
/// order, so results are bit-identical to ggml and gguf-py.
/// ref: ggml/src/ggml-quants.c dequantize_row_q2_K ... dequantize_row_q6_K, get_scale_min_k4;
///      ggml/src/ggml-common.h block_q2_K ... block_q6_K.

/// Q4_K/Q5_K 6-bit scale and min of sub-block `j` (0..<8) from the 12 packed bytes at `q`.
///
/// Bytes 0-3 hold scales 0-3 (low 6 bits) and the top 2 bits of scales 4-7; bytes 4-7 the same for
/// the mins; bytes 8-11 the low nibbles of scales 4-7 (low) and mins 4-7 (high).
/// ref: ggml-quants.c get_scale_min_k4.
@inline(__always)
func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
  let b = q.assumingMemoryBound(to: UInt8.self)
  if j < 4 {
    return (b[j] & 63, b[j &+ 4] & 63)
  }
  let scale = (b[j &+ 4] & 0x0F) | ((b[j &- 4] &>> 6) &<< 4)
  let min = (b[j &+ 4] &>> 4) | ((b[j] &>> 6) &<< 4)
  return (scale, min)
}

/// Q3_K signed 6-bit scale of sub-block `i` (0..<16) from the 12 packed bytes at `q`, minus 32.
///
/// Low nibble: byte i (i < 8) low nibble or byte i−8 high nibble; high 2 bits: byte 8 + i%4 at bit
/// position 2·(i/4).
/// ref: ggml-quants.c dequantize_row_q3_K (the kmask1/kmask2 aux unpacking).
@inline(__always)
func scaleQ3K(_ i: Int, _ q: UnsafeRawPointer) -> Int32 {
  let b = q.assumingMemoryBound(to: UInt8.self)
  let low = i < 8 ? b[i] & 0x0F : b[i &- 8] &>> 4
  let high = (b[8 &+ (i & 3)] &>> UInt8(truncatingIfNeeded: 2 &* (i &>> 2))) & 3
  return Int32(low | (high &<< 4)) &- 32
}

/// Q2_K: `blocks` super-blocks of 84 bytes at `x` to 256·blocks floats at `y`.
func decodeQ2_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, blocks: Int) {
  for b in 0..<blocks {
    let p = x + b &* 84
    let d = loadHalf(p, 80)
    let dmin = loadHalf(p, 82)
    let scales = p.assumingMemoryBound(to: UInt8.self)
    for n in 0..<2 {  // two halves of 128 weights, each reading 32 bytes of qs
      for j in 0..<4 {  // four 2-bit planes
        let shift = UInt8(truncatingIfNeeded: 2 &* j)
        for h in 0..<2 {  // two sub-blocks of 16 weights
          let sc = scales[n &* 8 &+ j &* 2 &+ h]
          let dl = d * Float(sc & 0x0F)
          let ml = dmin * Float(sc &>> 4)
          let q = (loadBytes16(p, 16 &+ 32 &* n &+ 16 &* h) &>> shift) & 3
          store16(dl * floats(q) - ml, y, b &* 256 &+ n &* 128 &+ j &* 32 &+ h &* 16)
        }
      }
    }
  }
}

/// Q3_K: `blocks` super-blocks of 110 bytes at `x` to 256·blocks floats at `y`.
func decodeQ3_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, blocks: Int) {
  for b in 0..<blocks {
    let p = x + b &* 110
    let d = loadHalf(p, 108)
    for n in 0..<2 {
      for j in 0..<4 {
        let shift = UInt8(truncatingIfNeeded: 2 &* j)
        let plane = UInt8(truncatingIfNeeded: n &* 4 &+ j)  // which hmask bit
        for h in 0..<2 {
          let dl = d * Float(scaleQ3K(n &* 8 &+ j &* 2 &+ h, p + 96))
          let low = (loadBytes16(p, 32 &+ 32 &* n &+ 16 &* h) &>> shift) & 3
          let high = (loadBytes16(p, 16 &* h) &>> plane) & 1
          // q = low − 4 when the hmask bit is clear, low when set: low + 4·bit − 4.
          store16(
            dl * floats(low | (high &<< 2), minus: 4), y, b &* 256 &+ n &* 128 &+ j &* 32 &+ h &* 16
          )
        }
      }
    }
  }
}

/// Q4_K: `blocks` super-blocks of 144 bytes at `x` to 256·blocks floats at `y`.
func decodeQ4_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, blocks: Int) {
  for b in 0..<blocks {
    let p = x + b &* 144
    let out = y + b &* 256
    let d = loadHalf(p, 0)
    let dmin = loadHalf(p, 2)
    for j in 0..<4 {  // 64 weights per step: 32 low nibbles, then 32 high nibbles of 32 bytes
      let (sc1, m1) = scaleMinK4(2 &* j, p + 4)
      let (sc2, m2) = scaleMinK4(2 &* j &+ 1, p + 4)
      let d1 = d * Float(sc1)
      let min1 = dmin * Float(m1)
      let d2 = d * Float(sc2)
      let min2 = dmin * Float(m2)
      for h in 0..<2 {
        let q = loadBytes16(p, 16 &+ 32 &* j &+ 16 &* h)
        store16(d1 * floats(q & 0x0F) - min1, out, 64 &* j &+ 16 &* h)
        store16(d2 * floats(q &>> 4) - min2, out, 64 &* j &+ 32 &+ 16 &* h)
      }
    }
  }
}

/// Q5_K: `blocks` super-blocks of 176 bytes at `x` to 256·blocks floats at `y`.
func decodeQ5_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, blocks: Int) {
  for b in 0..<blocks {
    let p = x + b &* 176
    let out = y + b &* 256
    let d = loadHalf(p, 0)
    let dmin = loadHalf(p, 2)
    for j in 0..<4 {
      let (sc1, m1) = scaleMinK4(2 &* j, p + 4)
      let (sc2, m2) = scaleMinK4(2 &* j &+ 1, p + 4)
      let d1 = d * Float(sc1)
      let min1 = dmin * Float(m1)
      let d2 = d * Float(sc2)
      let min2 = dmin * Float(m2)
      let bit1 = UInt8(truncatingIfNeeded: 2 &* j)
      let bit2 = bit1 &+ 1
      for h in 0..<2 {
        let qh = loadBytes16(p, 16 &+ 16 &* h)
        let ql = loadBytes16(p, 48 &+ 32 &* j &+ 16 &* h)
        let q1 = (ql & 0x0F) | (((qh &>> bit1) & 1) &<< 4)
        let q2 = (ql &>> 4) | (((qh &>> bit2) & 1) &<< 4)
        store16(d1 * floats(q1) - min1, out, 64 &* j &+ 16 &* h)
        store16(d2 * floats(q2) - min2, out, 64 &* j &+ 32 &+ 16 &* h)
      }
    }
  }
}

/// Q6_K: `blocks` super-blocks of 210 bytes at `x` to 256·blocks floats at `y`.
func decodeQ6_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, blocks: Int) {
  for b in 0..<blocks {
    let p = x + b &* 210
    let d = loadHalf(p, 208)
    let scales = (p + 192).assumingMemoryBound(to: Int8.self)
    for n in 0..<2 {  // halves of 128 weights: ql[64n ..< 64n+64], qh[32n ..< 32n+32]
      let out = y + (b &* 256 &+ n &* 128)
      for h in 0..<2 {  // l in 16h ..< 16h+16; sub-block scale index is 8n + h + 2k for output k
        let qlA = loadBytes16(p, 64 &* n &+ 16 &* h)
        let qlB = loadBytes16(p, 64 &* n &+ 32 &+ 16 &* h)
        let qh = loadBytes16(p, 128 &+ 32 &* n &+ 16 &* h)
        let s = n &* 8 &+ h
        let q0 = (qlA & 0x0F) | ((qh & 3) &<< 4)
        let q1 = (qlB & 0x0F) | (((qh &>> 2) & 3) &<< 4)
        let q2 = (qlA &>> 4) | (((qh &>> 4) & 3) &<< 4)
        let q3 = (qlB &>> 4) | ((qh &>> 6) &<< 4)
        store16((d * Float(scales[s])) * floats(q0, minus: 32), out, 16 &* h)
        store16((d * Float(scales[s &+ 2])) * floats(q1, minus: 32), out, 32 &+ 16 &* h)
        store16((d * Float(scales[s &+ 4])) * floats(q2, minus: 32), out, 64 &+ 16 &* h)
        store16((d * Float(scales[s &+ 6])) * floats(q3, minus: 32), out, 96 &+ 16 &* h)
      }
    }
  }
}
