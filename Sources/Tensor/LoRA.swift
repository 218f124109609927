/// Floats of temporary storage a LoRA call may use for a block of rows (256 KiB): under the 1 MiB from which
/// STYLE.md convention 2 asks for a budget reservation, and small enough to stay in L2.
private let loraBlockFloats = 65_536

/// LoRA's low-rank update added to a frozen layer's output: output += scale · ((x ⊙ mask) Aᵀ) Bᵀ.
///
/// Dropout, as in PEFT, applies to the input of A only (PEFT's `lora_B(lora_A(lora_dropout(x)))`); the frozen
/// layer sees x unmasked. The masked copy of x is made a block of rows at a time in temporary storage.
/// - Parameters:
///   - input: x (T, inFeatures).
///   - a: A (rank, inFeatures).
///   - b: B (outFeatures, rank).
///   - scale: alpha / rank (PEFT's `scaling`).
///   - dropoutMask: (T, inFeatures) with entries 0 or 1/(1−p), or nil for no dropout. The backward needs the same
///     mask.
///   - output: y (T, outFeatures), ACCUMULATED (+=): it already holds the frozen layer's x Wᵀ.
///   - hidden: h = (x ⊙ mask) Aᵀ (T, rank), written and saved for the backward.
/// ref: Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"; PEFT's lora.Linear.forward.
public func loraForward(
  input: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, scale: Float,
  dropoutMask: UnsafePointer<Float>? = nil,
  output: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>,
  tokens T: Int, inFeatures: Int, outFeatures: Int, rank: Int
) {
  guard T > 0 else { return }
  if let mask = dropoutMask {
    let block = max(1, loraBlockFloats / inFeatures)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: block * inFeatures) { buffer in
      let masked = buffer.baseAddress!
      for t0 in stride(from: 0, to: T, by: block) {
        let n = min(block, T - t0)
        multiply(input + t0 * inFeatures, mask + t0 * inFeatures, into: masked, count: n * inFeatures)
        // h rows (n, r) = (x ⊙ mask) (n, in) · Aᵀ
        BLAS.gemmABt(
          m: n, n: rank, k: inFeatures, a: masked, lda: inFeatures, b: a, ldb: inFeatures,
          c: hidden + t0 * rank, ldc: rank)
      }
    }
  } else {
    // h (T, r) = x (T, in) · Aᵀ
    BLAS.gemmABt(m: T, n: rank, k: inFeatures, a: input, lda: inFeatures, b: a, ldb: inFeatures, c: hidden, ldc: rank)
  }
  // y (T, out) += scale · h (T, r) · Bᵀ
  BLAS.gemmABt(
    m: T, n: outFeatures, k: rank, alpha: scale, a: hidden, lda: rank, b: b, ldb: rank, beta: 1, c: output,
    ldc: outFeatures)
}

/// Backward of `loraForward`: gradients of A and B, and LoRA's share of the input gradient.
///
/// With xm = x ⊙ mask, h = xm Aᵀ and dh = scale · dy B:
///   dB += scale · dyᵀ h;  dA += dhᵀ xm;  dx += (dh A) ⊙ mask.
/// dh is formed a block of rows at a time in temporary storage (with the masked input when dropout is on).
/// - Parameters:
///   - input, a, b, scale, dropoutMask: as in the forward (the same mask).
///   - hidden: h (T, rank) saved by the forward.
///   - outputGradient: dy (T, outFeatures).
///   - inputGradient: dx (T, inFeatures), ACCUMULATED: it also receives the frozen layer's dy W.
///   - aGradient: dA (rank, inFeatures), ACCUMULATED (gradient accumulation over micro-batches).
///   - bGradient: dB (outFeatures, rank), ACCUMULATED.
/// ref: Hu et al. 2021, "LoRA"; the chain rule through two linear maps.
public func loraBackward(
  input: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, scale: Float,
  dropoutMask: UnsafePointer<Float>? = nil, hidden: UnsafePointer<Float>,
  outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
  aGradient: UnsafeMutablePointer<Float>, bGradient: UnsafeMutablePointer<Float>,
  tokens T: Int, inFeatures: Int, outFeatures: Int, rank: Int
) {
  guard T > 0 else { return }
  // dB (out, r) += scale · dyᵀ (out, T) · h (T, r)
  BLAS.gemm(
    transposeA: true, transposeB: false, m: outFeatures, n: rank, k: T, alpha: scale, a: outputGradient,
    lda: outFeatures, b: hidden, ldb: rank, beta: 1, c: bGradient, ldc: rank)
  let wide = dropoutMask == nil ? 0 : inFeatures
  let block = max(1, loraBlockFloats / (rank + wide))
  withUnsafeTemporaryAllocation(of: Float.self, capacity: block * (rank + wide)) { buffer in
    let dh = buffer.baseAddress!
    let masked = dh + block * rank
    for t0 in stride(from: 0, to: T, by: block) {
      let n = min(block, T - t0)
      let x = input + t0 * inFeatures
      let dx = inputGradient + t0 * inFeatures
      // dh (n, r) = scale · dy (n, out) · B (out, r)
      BLAS.gemm(
        transposeA: false, transposeB: false, m: n, n: rank, k: outFeatures, alpha: scale,
        a: outputGradient + t0 * outFeatures, lda: outFeatures, b: b, ldb: rank, c: dh, ldc: rank)
      if let mask = dropoutMask.map({ $0 + t0 * inFeatures }) {
        multiply(x, mask, into: masked, count: n * inFeatures)
        // dA (r, in) += dhᵀ (r, n) · xm (n, in)
        BLAS.gemm(
          transposeA: true, transposeB: false, m: rank, n: inFeatures, k: n, a: dh, lda: rank, b: masked,
          ldb: inFeatures, beta: 1, c: aGradient, ldc: inFeatures)
        // dxm (n, in) = dh (n, r) · A (r, in), reusing the masked-input block; then dx += dxm ⊙ mask.
        BLAS.gemm(
          transposeA: false, transposeB: false, m: n, n: inFeatures, k: rank, a: dh, lda: rank, b: a,
          ldb: inFeatures, c: masked, ldc: inFeatures)
        for i in 0..<(n * inFeatures) { dx[i] += masked[i] * mask[i] }
      } else {
        // dA (r, in) += dhᵀ (r, n) · x (n, in)
        BLAS.gemm(
          transposeA: true, transposeB: false, m: rank, n: inFeatures, k: n, a: dh, lda: rank, b: x,
          ldb: inFeatures, beta: 1, c: aGradient, ldc: inFeatures)
        // dx (n, in) += dh (n, r) · A (r, in)
        BLAS.gemm(
          transposeA: false, transposeB: false, m: n, n: inFeatures, k: rank, a: dh, lda: rank, b: a,
          ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
      }
    }
  }
}
