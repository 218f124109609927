import Glibc

/// Causal grouped-query attention over a KV cache, one head per task, heads split across workers.
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
      // s (T, length) = scale · Q_h (T, hd) · K_g (length, hd)ᵀ
      BLAS.gemmABt(
        m: T, n: length, k: headDim, alpha: scale, a: queryP.pointer + h * headDim, lda: q,
        b: keysP.pointer + g * headDim,
        ldb: kv, c: s, ldc: length)
      for t in 0..<T {
        let row = s + t * length
        let visible = start + t + 1
        for j in visible..<length { row[j] = -.infinity }
      }
      softmaxRowsInPlace(s, rows: T, cols: length, stride: length)
      // out_h (T, hd) = s (T, length) · V_g (length, hd)
      BLAS.gemm(
        transposeA: false, transposeB: false, m: T, n: headDim, k: length, a: s, lda: length,
        b: valuesP.pointer + g * headDim, ldb: kv, c: outputP.pointer + h * headDim, ldc: q)
    }
  }
}
