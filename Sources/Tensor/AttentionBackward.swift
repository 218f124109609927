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
  let blocks = CausalBlock.split(tokens: T, segmentStarts: segmentStarts)
  let parts = min(workers, heads)
  parallelParts(parts) { part in
    let p = scoresP.pointer + part * scoresPerWorker
    for h in partition(heads, parts: parts, part: part) {
      let g = h / layout.group
      for block in blocks {
        layout.probabilities(
          query: queryP.pointer, keys: keysP.pointer, head: h, block: block, segmentStarts: segmentsP?.pointer,
          into: p)
        // out_h[rows] (m, hd) = P (m, w) · V_g[columns] (w, hd)
        BLAS.gemm(
          transposeA: false, transposeB: false, m: block.rows.count, n: headDim, k: block.width, a: p,
          lda: block.width, b: valuesP.pointer + block.columns.lowerBound * layout.kv + g * headDim, ldb: layout.kv,
          c: outputP.pointer + block.rows.lowerBound * layout.q + h * headDim, ldc: layout.q)
      }
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
  let blocks = CausalBlock.split(tokens: T, segmentStarts: segmentStarts)
  let parts = min(workers, kvHeads)
  parallelParts(parts) { part in
    let p = scratchP.pointer + part * scratchPerWorker
    let dp = p + T * T
    for g in partition(kvHeads, parts: parts, part: part) {
      let k = keysP.pointer + g * headDim
      let v = valuesP.pointer + g * headDim
      let dk = keysGradientP.pointer + g * headDim
      let dv = valuesGradientP.pointer + g * headDim
      // Blocks add to different key ranges, so dK_g and dV_g start from zero and every product adds (beta 1).
      for t in 0..<T {
        (dk + t * kv).update(repeating: 0, count: headDim)
        (dv + t * kv).update(repeating: 0, count: headDim)
      }
      for h in (g * layout.group)..<((g + 1) * layout.group) {
        for block in blocks {
          let m = block.rows.count
          let w = block.width
          let dout = outputGradientP.pointer + block.rows.lowerBound * q + h * headDim
          let queryRows = queryP.pointer + block.rows.lowerBound * q + h * headDim
          let keyOffset = block.columns.lowerBound * kv
          layout.probabilities(
            query: queryP.pointer, keys: keysP.pointer, head: h, block: block, segmentStarts: segmentsP?.pointer,
            into: p)
          // dV_g[columns] (w, hd) += Pᵀ (w, m) · dO_h[rows] (m, hd)
          BLAS.gemm(
            transposeA: true, transposeB: false, m: w, n: headDim, k: m, a: p, lda: w, b: dout, ldb: q, beta: 1,
            c: dv + keyOffset, ldc: kv)
          // dP (m, w) = dO_h[rows] (m, hd) · V_g[columns] (w, hd)ᵀ
          BLAS.gemmABt(m: m, n: w, k: headDim, a: dout, lda: q, b: v + keyOffset, ldb: kv, c: dp, ldc: w)
          // dS = P ⊙ (dP − Σ_j P·dP), in place over dP. Masked entries have P = 0 exactly, so their dS is 0.
          for i in 0..<m {
            let pRow = p + i * w
            let dRow = dp + i * w
            let rowSum = dot(pRow, dRow, count: w)
            for j in 0..<w { dRow[j] = pRow[j] * (dRow[j] - rowSum) }
          }
          // dQ_h[rows] (m, hd) = scale · dS (m, w) · K_g[columns] (w, hd)
          BLAS.gemm(
            transposeA: false, transposeB: false, m: m, n: headDim, k: w, alpha: scale, a: dp, lda: w,
            b: k + keyOffset, ldb: kv, c: queryGradientP.pointer + block.rows.lowerBound * q + h * headDim, ldc: q)
          // dK_g[columns] (w, hd) += scale · dSᵀ (w, m) · Q_h[rows] (m, hd)
          BLAS.gemm(
            transposeA: true, transposeB: false, m: w, n: headDim, k: m, alpha: scale, a: dp, lda: w, b: queryRows,
            ldb: q, beta: 1, c: dk + keyOffset, ldc: kv)
        }
      }
    }
  }
}

/// A block of query rows and the key columns any of them can attend to: columns run from the earliest segment start
/// among the rows to the last row (causal), so the masked triangle above the diagonal, and in packed rows the keys
/// of earlier sequences, are neither multiplied nor exponentiated. With blocks of 64 rows that is about 56% of the
/// full T×T work at T = 512 and 62% at 256 (perf showed attention's share of a seq-512 step near a third).
/// One block when T ≤ 64, which is then the same computation as the inference kernel.
struct CausalBlock {
  static let rowsPerBlock = 64

  let rows: Range<Int>
  let columns: Range<Int>
  var width: Int { columns.count }

  static func split(tokens T: Int, segmentStarts: UnsafePointer<Int32>?) -> [CausalBlock] {
    stride(from: 0, to: T, by: rowsPerBlock).map { start in
      let end = min(start + rowsPerBlock, T)
      var first = end - 1
      for t in start..<end {
        let segmentStart = segmentStarts.map { Int($0[t]) } ?? 0
        precondition(segmentStart >= 0 && segmentStart <= t, "segment start of token \(t) is not in 0...\(t)")
        first = min(first, segmentStart)
      }
      return CausalBlock(rows: start..<end, columns: first..<end)
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

  /// p (m, w) = softmax over each row of scale · Q_h[rows] K_g[columns]ᵀ, with row stride w: row t restricted to
  /// columns segmentStarts[t]...t of the block's columns.
  func probabilities(
    query: UnsafePointer<Float>, keys: UnsafePointer<Float>, head h: Int, block: CausalBlock,
    segmentStarts: UnsafePointer<Int32>?, into p: UnsafeMutablePointer<Float>
  ) {
    let w = block.width
    let c0 = block.columns.lowerBound
    BLAS.gemmABt(
      m: block.rows.count, n: w, k: headDim, alpha: scale, a: query + block.rows.lowerBound * q + h * headDim, lda: q,
      b: keys + c0 * kv + (h / group) * headDim, ldb: kv, c: p, ldc: w)
    for (i, t) in block.rows.enumerated() {
      let row = p + i * w
      let first = segmentStarts.map { Int($0[t]) } ?? 0
      for j in c0..<first { row[j - c0] = -.infinity }
      for j in (t + 1)..<block.columns.upperBound { row[j - c0] = -.infinity }
    }
    softmaxRowsInPlace(p, rows: block.rows.count, cols: w, stride: w)
  }
}
