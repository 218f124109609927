import Glibc

/// Causal grouped-query attention over whole training sequences (start 0, no cache), with an optional
/// block-diagonal mask for packed sequences. Same math as `causalAttentionForward` with start 0; heads split across
/// workers the same way.
///
/// - Parameters:
///   - query: (T, heads·headDim), already rotated.
///   - keys, values: (T, kvHeads·headDim), keys already rotated.
///   - output: (T, heads·headDim).
///   - segmentStarts: (T) or nil; for packed sequences, token t's entry is the index of the first token of its
///     sequence, and t attends only to positions segmentStarts[t]...t. nil is one sequence (all zeros).
///   - scores: per-worker scratch of `scoresPerWorker` ≥ T·T floats.
/// Query head h reads kv head h / (heads/kvHeads).
/// ref: Vaswani et al. 2017 (scaled dot-product attention); Ainslie et al. 2023 (GQA); Krell et al. 2021,
/// "Efficient Sequence Packing without Cross-contamination" (the block-diagonal mask).
public func causalAttentionTrainingForward(
  query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
  output: UnsafeMutablePointer<Float>,
  tokens T: Int, heads: Int, kvHeads: Int, headDim: Int, segmentStarts: UnsafePointer<Int32>? = nil,
  scores: UnsafeMutablePointer<Float>, scoresPerWorker: Int, workers: Int
) {
  precondition(T * T <= scoresPerWorker, "attention scratch too small")
  let layout = AttentionLayout(tokens: T, heads: heads, kvHeads: kvHeads, headDim: headDim)
  let queryP = SendableConstPointer(query)
  let keysP = SendableConstPointer(keys)
  let valuesP = SendableConstPointer(values)
  let outputP = SendablePointer(output)
  let scoresP = SendablePointer(scores)
  let segmentsP = segmentStarts.map { SendableConstPointer($0) }
  let parts = min(workers, heads)
  parallelParts(parts) { part in
    let p = scoresP.pointer + part * scoresPerWorker
    for h in partition(heads, parts: parts, part: part) {
      let g = h / layout.group
      layout.probabilities(
        query: queryP.pointer, keys: keysP.pointer, head: h, segmentStarts: segmentsP?.pointer, into: p)
      // out_h (T, hd) = P (T, T) · V_g (T, hd)
      BLAS.gemm(
        transposeA: false, transposeB: false, m: T, n: headDim, k: T, a: p, lda: T,
        b: valuesP.pointer + g * headDim, ldb: layout.kv, c: outputP.pointer + h * headDim, ldc: layout.q)
    }
  }
}

/// Backward of `causalAttentionTrainingForward`: dQ, dK, dV from dOut, recomputing the probabilities (nothing from
/// the forward is stored but its inputs).
///
/// Per query head h over kv head g, with P = softmax(scale · Q_h K_gᵀ + mask) and O_h = P V_g:
///   dV_g += Pᵀ dO_h;  dP = dO_h V_gᵀ;  dS = P ⊙ (dP − rowsum(P ⊙ dP));  dQ_h = scale · dS K_g;
///   dK_g += scale · dSᵀ Q_h.
/// Several query heads share a kv head (GQA), so dK_g and dV_g sum over the group. Work is split across workers by
/// kv head (each worker owns whole groups), so no two workers write the same dK/dV columns; with
/// kvHeads < workers only kvHeads workers run.
/// - Parameters:
///   - query, keys, values, segmentStarts: as in the forward (query and keys rotated).
///   - outputGradient: dOut (T, heads·headDim).
///   - queryGradient: dQ (T, heads·headDim), OVERWRITTEN; gradient of the rotated query (apply `rotaryBackward`).
///   - keysGradient, valuesGradient: dK, dV (T, kvHeads·headDim), OVERWRITTEN.
///   - scratch: per-worker scratch of `scratchPerWorker` ≥ 2·T·T floats (P and dP/dS).
/// ref: Dao et al. 2022, "FlashAttention", Algorithm 4 (the same gradient, without its tiling); llm.c's
/// attention_backward.
public func causalAttentionBackward(
  query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
  outputGradient: UnsafePointer<Float>, queryGradient: UnsafeMutablePointer<Float>,
  keysGradient: UnsafeMutablePointer<Float>, valuesGradient: UnsafeMutablePointer<Float>,
  tokens T: Int, heads: Int, kvHeads: Int, headDim: Int, segmentStarts: UnsafePointer<Int32>? = nil,
  scratch: UnsafeMutablePointer<Float>, scratchPerWorker: Int, workers: Int
) {
  precondition(2 * T * T <= scratchPerWorker, "attention backward scratch too small")
  let layout = AttentionLayout(tokens: T, heads: heads, kvHeads: kvHeads, headDim: headDim)
  let q = layout.q
  let kv = layout.kv
  let scale = layout.scale
  let queryP = SendableConstPointer(query)
  let keysP = SendableConstPointer(keys)
  let valuesP = SendableConstPointer(values)
  let outputGradientP = SendableConstPointer(outputGradient)
  let queryGradientP = SendablePointer(queryGradient)
  let keysGradientP = SendablePointer(keysGradient)
  let valuesGradientP = SendablePointer(valuesGradient)
  let scratchP = SendablePointer(scratch)
  let segmentsP = segmentStarts.map { SendableConstPointer($0) }
  let parts = min(workers, kvHeads)
  parallelParts(parts) { part in
    let p = scratchP.pointer + part * scratchPerWorker
    let dp = p + T * T
    for g in partition(kvHeads, parts: parts, part: part) {
      let k = keysP.pointer + g * headDim
      let v = valuesP.pointer + g * headDim
      let dk = keysGradientP.pointer + g * headDim
      let dv = valuesGradientP.pointer + g * headDim
      for h in (g * layout.group)..<((g + 1) * layout.group) {
        // The group's first head overwrites dK_g and dV_g (beta 0), the others add to them.
        let beta: Float = h == g * layout.group ? 0 : 1
        let dout = outputGradientP.pointer + h * headDim
        layout.probabilities(
          query: queryP.pointer, keys: keysP.pointer, head: h, segmentStarts: segmentsP?.pointer, into: p)
        // dV_g (T, hd) += Pᵀ (T, T) · dO_h (T, hd)
        BLAS.gemm(
          transposeA: true, transposeB: false, m: T, n: headDim, k: T, a: p, lda: T, b: dout, ldb: q, beta: beta,
          c: dv, ldc: kv)
        // dP (T, T) = dO_h (T, hd) · V_g (T, hd)ᵀ
        BLAS.gemmABt(m: T, n: T, k: headDim, a: dout, lda: q, b: v, ldb: kv, c: dp, ldc: T)
        // dS = P ⊙ (dP − Σ_j P·dP), in place over dP. Masked entries have P = 0 exactly, so their dS is 0.
        for t in 0..<T {
          let pRow = p + t * T
          let dRow = dp + t * T
          let rowSum = dot(pRow, dRow, count: T)
          for j in 0..<T { dRow[j] = pRow[j] * (dRow[j] - rowSum) }
        }
        // dQ_h (T, hd) = scale · dS (T, T) · K_g (T, hd)
        BLAS.gemm(
          transposeA: false, transposeB: false, m: T, n: headDim, k: T, alpha: scale, a: dp, lda: T, b: k, ldb: kv,
          c: queryGradientP.pointer + h * headDim, ldc: q)
        // dK_g (T, hd) += scale · dSᵀ (T, T) · Q_h (T, hd)
        BLAS.gemm(
          transposeA: true, transposeB: false, m: T, n: headDim, k: T, alpha: scale, a: dp, lda: T,
          b: queryP.pointer + h * headDim, ldb: q, beta: beta, c: dk, ldc: kv)
      }
    }
  }
}

/// Shapes shared by the training attention forward and backward.
private struct AttentionLayout {
  let tokens: Int
  let headDim: Int
  /// Row widths of query-shaped and key-shaped buffers.
  let q: Int
  let kv: Int
  /// Query heads per kv head.
  let group: Int
  let scale: Float

  init(tokens: Int, heads: Int, kvHeads: Int, headDim: Int) {
    precondition(kvHeads > 0 && heads % kvHeads == 0, "heads must be a multiple of kvHeads")
    self.tokens = tokens
    self.headDim = headDim
    self.q = heads * headDim
    self.kv = kvHeads * headDim
    self.group = heads / kvHeads
    self.scale = 1 / Float(headDim).squareRoot()
  }

  /// p (T, T) = softmax over each row of scale · Q_h K_gᵀ, row t restricted to columns segmentStarts[t]...t.
  func probabilities(
    query: UnsafePointer<Float>, keys: UnsafePointer<Float>, head h: Int, segmentStarts: UnsafePointer<Int32>?,
    into p: UnsafeMutablePointer<Float>
  ) {
    let T = tokens
    BLAS.gemmABt(
      m: T, n: T, k: headDim, alpha: scale, a: query + h * headDim, lda: q, b: keys + (h / group) * headDim, ldb: kv,
      c: p, ldc: T)
    for t in 0..<T {
      let row = p + t * T
      let first = segmentStarts.map { Int($0[t]) } ?? 0
      precondition(first >= 0 && first <= t, "segment start of token \(t) is not in 0...\(t)")
      for j in 0..<first { row[j] = -.infinity }
      for j in (t + 1)..<T { row[j] = -.infinity }
    }
    softmaxRowsInPlace(p, rows: T, cols: T, stride: T)
  }
}
