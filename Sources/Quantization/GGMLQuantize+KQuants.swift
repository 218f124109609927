/// Reference quantizers for the 256-weight K-quant super-blocks: Q4_K, Q5_K, Q6_K (layouts in KQuantBlocks.swift).
///
/// Q4_K/Q5_K: each 32-weight sub-block gets a scale and a minimum from a weighted least-squares search over 21 (Q4_K)
/// or 16 (Q5_K) candidate scales (make_qkx2_quants, weights av|x| + |x|); the eight scales and eight minimums are
/// then quantized to 6 bits against fp16 super-scales d = max scale / 63 and dmin = max min / 63, and the weights
/// are re-rounded against those 6-bit·fp16 products. Q6_K: each 16-weight sub-block gets a signed scale from
/// make_qx_quants (19 candidates, weights x²), quantized to int8 against d = max |scale| / −128 (sign kept), and the
/// weights are re-rounded against d·scale into −32 ..< 32.
/// A sub-block whose rounded scale is zero keeps the quants of its search, as ggml's `if (!d) continue;` does.
/// ref: ggml/src/ggml-quants.c quantize_row_q4_K_ref, quantize_row_q5_K_ref, quantize_row_q6_K_ref,
///      make_qkx2_quants, make_qx_quants, nearest_int, get_scale_min_k4.

/// A least-squares fit `x ≈ scale·L + min` with L in 0...nmax over 32 weighted values: the plain min/max fit, then
/// `nstep + 1` candidate inverse scales (rmin + rdelta·is + nmax)/(max − min), each with the scale and minimum that
/// minimise the weighted squared error for its rounding; the best (strictly lower error) wins.
///
/// - x, weights: 32 floats each. `quants`: out, 32 quants in 0...nmax. `scratch`: 32 bytes of working space.
/// - nstep ≥ 1 (the callers pass 20 and 15; ggml's early return for nstep < 1 is not reproduced).
/// Returns the scale and the minimum negated (≥ 0), as ggml's return value and `*the_min`.
/// ref: ggml-quants.c make_qkx2_quants with n = 32, use_mad = false (the only way the K-quants call it).
@inline(__always)
func makeQKX2Quants(
  _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>, nmax: Int32, rmin: Float, rdelta: Float, nstep: Int,
  quants: UnsafeMutablePointer<UInt8>, scratch: UnsafeMutablePointer<UInt8>
) -> (scale: Float, negatedMin: Float) {
  let n = 32
  var min = x[0]
  var max = x[0]
  var sumW = weights[0]
  var sumX = sumW * x[0]
  for i in 1..<n {
    if x[i] < min { min = x[i] }
    if x[i] > max { max = x[i] }
    let w = weights[i]
    sumW += w
    sumX += w * x[i]
  }
  if min > 0 { min = 0 }
  if max == min {
    quants.update(repeating: 0, count: n)
    return (0, -min)
  }
  let fmax = Float(nmax)
  var iscale = fmax / (max - min)
  var scale = 1 / iscale
  var bestError: Float = 0
  for i in 0..<n {
    let l = Swift.max(0, Swift.min(nmax, nearestInt(iscale * (x[i] - min))))
    quants[i] = UInt8(truncatingIfNeeded: l)
    let diff = scale * Float(l) + min - x[i]
    bestError += weights[i] * (diff * diff)
  }
  for step in 0...nstep {
    iscale = (rmin + rdelta * Float(step) + fmax) / (max - min)
    var sumL: Float = 0
    var sumL2: Float = 0
    var sumXL: Float = 0
    for i in 0..<n {
      let l = Swift.max(0, Swift.min(nmax, nearestInt(iscale * (x[i] - min))))
      scratch[i] = UInt8(truncatingIfNeeded: l)
      let w = weights[i]
      let fl = Float(l)
      sumL += w * fl
      sumL2 += w * fl * fl
      sumXL += w * fl * x[i]
    }
    let det = sumW * sumL2 - sumL * sumL
    guard det > 0 else { continue }
    var thisScale = (sumW * sumXL - sumX * sumL) / det
    var thisMin = (sumL2 * sumX - sumL * sumXL) / det
    if thisMin > 0 {
      thisMin = 0
      thisScale = sumXL / sumL2
    }
    var error: Float = 0
    for i in 0..<n {
      let diff = thisScale * Float(scratch[i]) + thisMin - x[i]
      error += weights[i] * (diff * diff)
    }
    if error < bestError {
      quants.update(from: scratch, count: n)
      bestError = error
      scale = thisScale
      min = thisMin
    }
  }
  return (scale, -min)
}

/// A symmetric fit `x ≈ scale·(L − nmax)` with L in 0 ..< 2·nmax over `n` values weighted by x² (rmse_type 1): the
/// scale −nmax/max, then 18 candidates −(nmax + 0.1·is)/max for is in −9...9, is ≠ 0, each kept if it raises
/// (Σwxl)²/Σwl². All-zero groups (max |x| < GROUP_MAX_EPS) give scale 0 and quants 0.
///
/// - x: `n` floats. `quants`: out, `n` quants in 0 ..< 2·nmax. `weights`: `n` floats of working space.
/// ref: ggml-quants.c make_qx_quants with rmse_type = 1, qw = NULL (how quantize_row_q6_K_ref calls it).
@inline(__always)
func makeQXQuants(
  _ x: UnsafePointer<Float>, n: Int, nmax: Int32, quants: UnsafeMutablePointer<UInt8>,
  weights: UnsafeMutablePointer<Float>
) -> Float {
  let (max, amax) = signedAbsMax(x, n)
  if amax < groupMaxEpsilon {
    quants.update(repeating: 0, count: n)
    return 0
  }
  for i in 0..<n { weights[i] = x[i] * x[i] }
  let fmax = Float(nmax)
  @inline(__always) func clamped(_ l: Int32) -> Int32 { Swift.max(-nmax, Swift.min(nmax &- 1, l)) }
  var iscale = Float(-nmax) / max
  var sumLX: Float = 0
  var sumL2: Float = 0
  for i in 0..<n {
    let l = clamped(nearestInt(iscale * x[i]))
    quants[i] = UInt8(truncatingIfNeeded: l &+ nmax)
    let w = weights[i]
    let fl = Float(l)
    sumLX += w * x[i] * fl
    sumL2 += w * fl * fl
  }
  var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
  var best = scale * sumLX
  for step in -9...9 where step != 0 {
    iscale = -(fmax + oneTenth * Float(step)) / max
    sumLX = 0
    sumL2 = 0
    for i in 0..<n {
      let fl = Float(clamped(nearestInt(iscale * x[i])))
      let w = weights[i]
      sumLX += w * x[i] * fl
      sumL2 += w * fl * fl
    }
    if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
      for i in 0..<n {
        quants[i] = UInt8(truncatingIfNeeded: clamped(nearestInt(iscale * x[i])) &+ nmax)
      }
      scale = sumLX / sumL2
      best = scale * sumLX
    }
  }
  return scale
}

/// Q4_K and Q5_K share everything up to the packing of the quants: this fills bytes 0 ..< 16 of the super-block at
/// `p` (d, dmin, the 12 bytes of 6-bit scales and mins) and the 256 quants in 0...nmax at `scratch.quants`.
/// ref: quantize_row_q4_K_ref / quantize_row_q5_K_ref up to `uint8_t * q = y[i].qs`.
@inline(__always)
func quantizeKSuperBlock(
  _ x: UnsafePointer<Float>, _ p: UnsafeMutableRawPointer, nmax: Int32, rmin: Float, nstep: Int,
  scratch: KQuantScratch
) {
  let quants = scratch.quants
  let weights = scratch.floats  // 32 weights, then 8 scales and 8 minimums
  let scales = weights + 32
  let mins = scales + 8
  var maxScale: Float = 0  // scales come out positive because the minimum is taken off
  var maxMin: Float = 0
  for j in 0..<8 {
    let xs = x + 32 &* j
    var sumX2: Float = 0
    for l in 0..<32 { sumX2 += xs[l] * xs[l] }
    let avX = (sumX2 / 32).squareRoot()
    for l in 0..<32 { weights[l] = avX + abs(xs[l]) }
    let fit = makeQKX2Quants(
      xs, weights: weights, nmax: nmax, rmin: rmin, rdelta: oneTenth, nstep: nstep, quants: quants + 32 &* j,
      scratch: scratch.candidate)
    scales[j] = fit.scale
    mins[j] = fit.negatedMin
    if fit.scale > maxScale { maxScale = fit.scale }
    if fit.negatedMin > maxMin { maxMin = fit.negatedMin }
  }
  let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
  let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
  let packed = (p + 4).assumingMemoryBound(to: UInt8.self)
  for j in 0..<8 {
    // (uint8_t)nearest_int(...) then MIN(63, ·): a negative result wraps to ≥ 193 and clamps to 63, as in ggml.
    let ls = Swift.min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))
    let lm = Swift.min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))
    if j < 4 {
      packed[j] = ls
      packed[j &+ 4] = lm
    } else {
      packed[j &+ 4] = (ls & 0x0F) | ((lm & 0x0F) &<< 4)
      packed[j &- 4] |= (ls &>> 4) &<< 6
      packed[j] |= (lm &>> 4) &<< 6
    }
  }
  let d = storeHalf(maxScale / 63, p, 0)
  let dmin = storeHalf(maxMin / 63, p, 2)
  for j in 0..<8 {
    let (sc, m) = scaleMinK4(j, p + 4)
    let dj = d * Float(sc)
    if dj == 0 { continue }
    let dm = dmin * Float(m)
    let xs = x + 32 &* j
    for i in 0..<32 {
      let l = Swift.max(0, Swift.min(nmax, nearestInt((xs[i] + dm) / dj)))
      quants[32 &* j &+ i] = UInt8(truncatingIfNeeded: l)
    }
  }
}

/// Working memory for one K-quant call, reused by every super-block: 256 quants, 32 quants of the candidate under
/// test, and 48 floats (sub-block weights, scales, minimums).
struct KQuantScratch {
  var quants: UnsafeMutablePointer<UInt8>
  var candidate: UnsafeMutablePointer<UInt8>
  var floats: UnsafeMutablePointer<Float>
}

/// Runs `body` with a `KQuantScratch` in temporary memory (the stack, for these few hundred bytes).
@inline(__always)
func withKQuantScratch(_ body: (KQuantScratch) -> Void) {
  withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 32) { bytes in
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 48) { floats in
      body(KQuantScratch(quants: bytes.baseAddress!, candidate: bytes.baseAddress! + 256, floats: floats.baseAddress!))
    }
  }
}

/// Q4_K: 256·blocks floats at `x` to `blocks` super-blocks of 144 bytes at `y`. ref: quantize_row_q4_K_ref.
func quantizeQ4_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
  withKQuantScratch { scratch in
    let quants = scratch.quants
    for b in 0..<blocks {
      let p = y + b &* 144
      quantizeKSuperBlock(x + b &* 256, p, nmax: 15, rmin: -1, nstep: 20, scratch: scratch)
      let qs = (p + 16).assumingMemoryBound(to: UInt8.self)
      for j in 0..<4 {  // 64 weights per 32 bytes: low nibbles first, then high
        for l in 0..<32 {
          qs[32 &* j &+ l] = quants[64 &* j &+ l] | (quants[64 &* j &+ l &+ 32] &<< 4)
        }
      }
    }
  }
}

/// Q5_K: 256·blocks floats at `x` to `blocks` super-blocks of 176 bytes at `y`. ref: quantize_row_q5_K_ref.
func quantizeQ5_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
  withKQuantScratch { scratch in
    let quants = scratch.quants
    for b in 0..<blocks {
      let p = y + b &* 176
      quantizeKSuperBlock(x + b &* 256, p, nmax: 31, rmin: -0.5, nstep: 15, scratch: scratch)
      let qh = (p + 16).assumingMemoryBound(to: UInt8.self)
      let ql = (p + 48).assumingMemoryBound(to: UInt8.self)
      qh.update(repeating: 0, count: 32)
      for j in 0..<4 {  // weights 64j ..< 64j+32 low nibbles and bit 2j; the next 32 high nibbles and bit 2j+1
        let m1 = UInt8(1) &<< UInt8(2 &* j)
        let m2 = m1 &<< 1
        for l in 0..<32 {
          var l1 = quants[64 &* j &+ l]
          if l1 > 15 {
            l1 &-= 16
            qh[l] |= m1
          }
          var l2 = quants[64 &* j &+ l &+ 32]
          if l2 > 15 {
            l2 &-= 16
            qh[l] |= m2
          }
          ql[32 &* j &+ l] = l1 | (l2 &<< 4)
        }
      }
    }
  }
}

/// Q6_K: 256·blocks floats at `x` to `blocks` super-blocks of 210 bytes at `y`. ref: quantize_row_q6_K_ref.
func quantizeQ6_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
  withKQuantScratch { scratch in
    let quants = scratch.quants
    let weights = scratch.floats  // 16 weights, then 16 scales
    let scales = weights + 16
    for b in 0..<blocks {
      let xb = x + b &* 256
      let p = y + b &* 210
      var maxScale: Float = 0
      var maxAbsScale: Float = 0
      for ib in 0..<16 {
        let scale = makeQXQuants(xb + 16 &* ib, n: 16, nmax: 32, quants: quants + 16 &* ib, weights: weights)
        scales[ib] = scale
        if abs(scale) > maxAbsScale {
          maxAbsScale = abs(scale)
          maxScale = scale
        }
      }
      if maxAbsScale < groupMaxEpsilon {
        p.initializeMemory(as: UInt8.self, repeating: 0, count: 210)  // fp16 0 is all zero bits too
        continue
      }
      let iscale = -128 / maxScale
      let d = storeHalf(1 / iscale, p, 208)
      let packedScales = (p + 192).assumingMemoryBound(to: Int8.self)
      for ib in 0..<16 {
        packedScales[ib] = Int8(truncatingIfNeeded: Swift.min(127, nearestInt(iscale * scales[ib])))
      }
      for j in 0..<16 {
        let dj = d * Float(packedScales[j])
        if dj == 0 { continue }
        for i in 0..<16 {
          let l = Swift.max(-32, Swift.min(31, nearestInt(xb[16 &* j &+ i] / dj)))
          quants[16 &* j &+ i] = UInt8(truncatingIfNeeded: l &+ 32)
        }
      }
      let ql = p.assumingMemoryBound(to: UInt8.self)
      let qh = ql + 128
      for n in 0..<2 {  // 128 weights per half: ql[64n ..< 64n+64], qh[32n ..< 32n+32]
        let q = quants + 128 &* n
        for l in 0..<32 {
          ql[64 &* n &+ l] = (q[l] & 0x0F) | ((q[l &+ 64] & 0x0F) &<< 4)
          ql[64 &* n &+ l &+ 32] = (q[l &+ 32] & 0x0F) | ((q[l &+ 96] & 0x0F) &<< 4)
          qh[32 &* n &+ l] =
            (q[l] &>> 4) | ((q[l &+ 32] &>> 4) &<< 2) | ((q[l &+ 64] &>> 4) &<< 4) | ((q[l &+ 96] &>> 4) &<< 6)
        }
      }
    }
  }
}
