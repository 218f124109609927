import Foundation
import Tensor
import Testing

/// Naive twin of `causalAttentionForward` in Double: for query head h at position start+t, kv head
/// g = h / (heads / kvHeads), p = softmax_j(q·k_j / sqrt(headDim)) over cache rows j ≤ start+t, out = Σ p_j v_j.
func attentionReference(
  query: [Float], keys: [Float], values: [Float], tokens: Int, start: Int, heads: Int, kvHeads: Int, headDim: Int
) -> [Double] {
  let q = heads * headDim
  let kv = kvHeads * headDim
  let group = heads / kvHeads
  var out = [Double](repeating: 0, count: tokens * q)
  for t in 0..<tokens {
    for h in 0..<heads {
      let g = h / group
      let visible = start + t + 1
      var scores = [Double](repeating: 0, count: visible)
      for j in 0..<visible {
        var s = 0.0
        for d in 0..<headDim { s += Double(query[t * q + h * headDim + d]) * Double(keys[j * kv + g * headDim + d]) }
        scores[j] = s / Double(headDim).squareRoot()
      }
      let maximum = scores.max()!
      let e = scores.map { exp($0 - maximum) }
      let total = e.reduce(0, +)
      for d in 0..<headDim {
        var sum = 0.0
        for j in 0..<visible { sum += e[j] / total * Double(values[j * kv + g * headDim + d]) }
        out[t * q + h * headDim + d] = sum
      }
    }
  }
  return out
}

@Suite struct AttentionTests {
  struct Shape: Sendable, CustomTestStringConvertible {
    var tokens: Int, start: Int, heads: Int, kvHeads: Int, headDim: Int
    var testDescription: String { "T\(tokens) start\(start) h\(heads)/kv\(kvHeads) hd\(headDim)" }
  }

  static let shapes: [Shape] = [
    Shape(tokens: 1, start: 0, heads: 6, kvHeads: 2, headDim: 8),  // first token: sees only itself
    Shape(tokens: 5, start: 0, heads: 6, kvHeads: 2, headDim: 8),  // prefill
    Shape(tokens: 4, start: 3, heads: 6, kvHeads: 2, headDim: 16),  // a chunk after 3 cached positions
    Shape(tokens: 1, start: 9, heads: 6, kvHeads: 2, headDim: 8),  // one-token decode over a cache
    Shape(tokens: 3, start: 7, heads: 6, kvHeads: 6, headDim: 4),  // plain multi-head
    Shape(tokens: 6, start: 2, heads: 6, kvHeads: 1, headDim: 32),  // multi-query
    Shape(tokens: 2, start: 0, heads: 1, kvHeads: 1, headDim: 64),  // fewer heads than workers
    Shape(tokens: 150, start: 0, heads: 2, kvHeads: 1, headDim: 4),  // three blocks of query rows, the last partial
    Shape(tokens: 70, start: 20, heads: 2, kvHeads: 1, headDim: 4),  // two blocks after a cache
  ]

  func run(_ s: Shape, query: [Float], keys: [Float], values: [Float], workers: Int) -> [Float] {
    let length = s.start + s.tokens
    let perWorker = s.tokens * length + 3  // more than needed: the kernel must use the stride it is given
    var scores = [Float](repeating: .nan, count: perWorker * workers)
    var output = [Float](repeating: .nan, count: s.tokens * s.heads * s.headDim)
    causalAttentionForward(
      query: query, keys: keys, values: values, output: &output, tokens: s.tokens, start: s.start, heads: s.heads,
      kvHeads: s.kvHeads, headDim: s.headDim, scores: &scores, scoresPerWorker: perWorker, workers: workers)
    return output
  }

  @Test(arguments: shapes)
  func matchesDoubleAndIsTheSameForAnyWorkerCount(_ s: Shape) {
    let length = s.start + s.tokens
    let seed = UInt64(s.tokens * 1000 + s.start * 10 + s.kvHeads)
    let query = randomFloats(s.tokens * s.heads * s.headDim, seed: seed, in: -2...2)
    let keys = randomFloats(length * s.kvHeads * s.headDim, seed: seed + 1, in: -2...2)
    let values = randomFloats(length * s.kvHeads * s.headDim, seed: seed + 2)
    let want = attentionReference(
      query: query, keys: keys, values: values, tokens: s.tokens, start: s.start, heads: s.heads, kvHeads: s.kvHeads,
      headDim: s.headDim)

    let one = run(s, query: query, keys: keys, values: values, workers: 1)
    let two = run(s, query: query, keys: keys, values: values, workers: 2)
    // Scores: headDim ≤ 64 products (≤ 64·u); softmax: expf within a few u; output: a convex combination of
    // ≤ 16 values. Together ≈ 1e-6 of ‖V‖∞ with these sizes, inside 1e-5.
    #expect(normwiseRelativeError(one, want) <= relativeTolerance)
    // Each head is computed by the same calls whichever worker runs it, so the results agree bit for bit.
    #expect(one == two)
  }

  @Test func cachedRowsBeyondTheChunkAreNotRead() {
    // Keys/values past start+T (a longer cache buffer) hold NaN; the kernel must stop at start+T.
    let s = Shape(tokens: 2, start: 3, heads: 6, kvHeads: 2, headDim: 8)
    let length = s.start + s.tokens
    let kv = s.kvHeads * s.headDim
    let query = randomFloats(s.tokens * s.heads * s.headDim, seed: 99)
    var keys = randomFloats(length * kv, seed: 100)
    var values = randomFloats(length * kv, seed: 101)
    keys += [Float](repeating: .nan, count: 4 * kv)
    values += [Float](repeating: .nan, count: 4 * kv)
    let got = run(s, query: query, keys: keys, values: values, workers: 2)
    #expect(got.allSatisfy { $0.isFinite })
  }
}
