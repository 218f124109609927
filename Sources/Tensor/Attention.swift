import Glibc

/// Causal grouped-query attention over a KV cache, one head per task, heads split across workers; query rows in
/// blocks of `CausalBlock.rowsPerBlock`, each against only the cache rows it can see.
///
/// - Parameters:
///   - query: (T, heads·headDim), already rotated.
///   - keys, values: (start+T, kvHeads·headDim): the cache of this layer, rows 0..<start+T valid.
///   - output: (T, heads·headDim).
///   - scores: per-worker scratch of `scoresPerWorker` ≥ T·(start+T) floats.
/// Query token t sits at position start+t and sees cache rows 0...start+t. Query head h reads kv head h / (heads/kvHeads).
/// ref: Vaswani et al. 2017 (scaled dot-product attention); Ainslie et al. 2023 (GQA).
public func causalAttentionForward(
  query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
  output: UnsafeMutablePointer<Float>,
  tokens T: Int, start: Int, heads: Int, kvHeads: Int, headDim: Int, scores: UnsafeMutablePointer<Float>,
  scoresPerWorker: Int,
  workers: Int
) {
  let length = start + T
  precondition(T * length <= scoresPerWorker, "attention scratch too small")
  let q = heads * headDim
  let kv = kvHeads * headDim
  let group = heads / kvHeads
  let scale = 1 / Float(headDim).squareRoot()
  let queryP = SendableConstPointer(query)
  let keysP = SendableConstPointer(keys)
  let valuesP = SendableConstPointer(values)
  let outputP = SendablePointer(output)
  let scoresP = SendablePointer(scores)
  let parts = min(workers, heads)
  parallelParts(parts) { part in
    let s = scoresP.pointer + part * scoresPerWorker
    for h in partition(heads, parts: parts, part: part) {
      let g = h / group
      // Query rows in blocks (see `CausalBlock`): rows r0..<r1 see cache rows 0..<start+r1 only, so the masked
      // triangle of a long prompt is neither multiplied nor exponentiated.
      for r0 in stride(from: 0, to: T, by: CausalBlock.rowsPerBlock) {
        let m = min(CausalBlock.rowsPerBlock, T - r0)
        let width = start + r0 + m
        // s (m, width) = scale · Q_h[r0..<r0+m] (m, hd) · K_g[0..<width] (width, hd)ᵀ
        BLAS.gemmABt(
          m: m, n: width, k: headDim, alpha: scale, a: queryP.pointer + r0 * q + h * headDim, lda: q,
          b: keysP.pointer + g * headDim, ldb: kv, c: s, ldc: width)
        for i in 0..<m {
          let row = s + i * width
          let visible = start + r0 + i + 1
          for j in visible..<width { row[j] = -.infinity }
        }
        softmaxRowsInPlace(s, rows: m, cols: width, stride: width)
        // out_h[r0..<r0+m] (m, hd) = s (m, width) · V_g[0..<width] (width, hd)
        BLAS.gemm(
          transposeA: false, transposeB: false, m: m, n: headDim, k: width, a: s, lda: width,
          b: valuesP.pointer + g * headDim, ldb: kv, c: outputP.pointer + r0 * q + h * headDim, ldc: q)
      }
    }
  }
}
