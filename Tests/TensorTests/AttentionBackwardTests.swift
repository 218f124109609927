import Foundation
import Tensor
import Testing

/// Naive twin of `causalAttentionTrainingForward` in Double over Double inputs: query token t of head h attends to
/// positions first...t of kv head h / (heads / kvHeads), first = segmentStarts[t] (0 without segments).
func attentionTrainingDouble(
  query: [Double], keys: [Double], values: [Double], tokens: Int, heads: Int, kvHeads: Int, headDim: Int,
  segmentStarts: [Int32]?
) -> [Double] {
  let q = heads * headDim
  let kv = kvHeads * headDim
  let group = heads / kvHeads
  var out = [Double](repeating: 0, count: tokens * q)
  for t in 0..<tokens {
    let first = segmentStarts.map { Int($0[t]) } ?? 0
    for h in 0..<heads {
      let g = h / group
      let scores = (first...t).map { j in
        var s = 0.0
        for d in 0..<headDim { s += query[t * q + h * headDim + d] * keys[j * kv + g * headDim + d] }
        return s / Double(headDim).squareRoot()
      }
      let maximum = scores.max()!
      let e = scores.map { exp($0 - maximum) }
      let total = e.reduce(0, +)
      for d in 0..<headDim {
        var sum = 0.0
        for (i, j) in (first...t).enumerated() { sum += e[i] / total * values[j * kv + g * headDim + d] }
        out[t * q + h * headDim + d] = sum
      }
    }
  }
  return out
}

@Suite struct AttentionBackwardTests {
  struct Case: Sendable, CustomTestStringConvertible {
    var tokens: Int, heads: Int, kvHeads: Int, headDim: Int
    var segmentStarts: [Int32]?
    var testDescription: String {
      // Long cases name their segments by where they start, not by every token's start.
      let segments = segmentStarts.map { $0.count > 16 ? Array(Set($0)).sorted() : $0 }
      return "T\(tokens) h\(heads)/kv\(kvHeads) hd\(headDim)" + (segments.map { " segments \($0)" } ?? "")
    }
  }

  static let cases: [Case] = [
    Case(tokens: 1, heads: 2, kvHeads: 1, headDim: 8),  // one token: P = 1, dQ = dK = 0
    Case(tokens: 5, heads: 4, kvHeads: 2, headDim: 4),  // GQA, two query heads per kv head
    Case(tokens: 6, heads: 4, kvHeads: 2, headDim: 4, segmentStarts: [0, 0, 0, 3, 3, 3]),  // two packed sequences
    Case(tokens: 7, heads: 3, kvHeads: 3, headDim: 8, segmentStarts: [0, 1, 1, 1, 4, 4, 6]),  // four, one of length 1
    Case(tokens: 6, heads: 4, kvHeads: 1, headDim: 9),  // multi-query; headDim not a multiple of 8
    Case(tokens: 4, heads: 6, kvHeads: 3, headDim: 4, segmentStarts: [0, 0, 2, 2]),  // 3 kv heads over 2 workers
    // Longer than one block of query rows (64): three blocks, the last partial, each with its own key range.
    Case(tokens: 150, heads: 2, kvHeads: 1, headDim: 2),
    // Packed sequences whose boundaries fall inside blocks, so a block's key range starts at a segment.
    Case(
      tokens: 140, heads: 2, kvHeads: 1, headDim: 2,
      segmentStarts: (0..<140).map { Int32($0 < 40 ? 0 : $0 < 100 ? 40 : 100) }),
  ]

  struct Inputs {
    var query: [Float], keys: [Float], values: [Float], outputGradient: [Float]
    init(_ c: Case) {
      let seed = UInt64(c.tokens * 1000 + c.heads * 10 + c.kvHeads)
      let q = c.tokens * c.heads * c.headDim
      let kv = c.tokens * c.kvHeads * c.headDim
      // Scores of order 1–4 so the softmax is far from uniform and from one-hot.
      query = randomFloats(q, seed: seed, in: -2...2)
      keys = randomFloats(kv, seed: seed + 1, in: -2...2)
      values = randomFloats(kv, seed: seed + 2)
      outputGradient = randomFloats(q, seed: seed + 3)
    }
  }

  func forward(_ c: Case, _ x: Inputs, workers: Int) -> [Float] {
    let perWorker = c.tokens * c.tokens + 5  // more than needed: the kernel must use the stride it is given
    var scores = [Float](repeating: .nan, count: perWorker * workers)
    var output = [Float](repeating: .nan, count: c.tokens * c.heads * c.headDim)
    withOptionalPointer(c.segmentStarts) { segments in
      causalAttentionTrainingForward(
        query: x.query, keys: x.keys, values: x.values, output: &output, tokens: c.tokens, heads: c.heads,
        kvHeads: c.kvHeads, headDim: c.headDim, segmentStarts: segments, scores: &scores,
        scoresPerWorker: perWorker, workers: workers)
    }
    return output
  }

  func backward(_ c: Case, _ x: Inputs, workers: Int) -> (dq: [Float], dk: [Float], dv: [Float]) {
    let perWorker = 2 * c.tokens * c.tokens + 3
    var scratch = [Float](repeating: .nan, count: perWorker * workers)
    // NaN-filled: all three gradients are overwritten, never read.
    var dq = [Float](repeating: .nan, count: c.tokens * c.heads * c.headDim)
    var dk = [Float](repeating: .nan, count: c.tokens * c.kvHeads * c.headDim)
    var dv = dk
    withOptionalPointer(c.segmentStarts) { segments in
      causalAttentionBackward(
        query: x.query, keys: x.keys, values: x.values, outputGradient: x.outputGradient, queryGradient: &dq,
        keysGradient: &dk, valuesGradient: &dv, tokens: c.tokens, heads: c.heads, kvHeads: c.kvHeads,
        headDim: c.headDim, segmentStarts: segments, scratch: &scratch, scratchPerWorker: perWorker,
        workers: workers)
    }
    return (dq, dk, dv)
  }

  @Test(arguments: cases)
  func forwardMatchesDoubleAndIsTheSameForAnyWorkerCount(_ c: Case) {
    let x = Inputs(c)
    let want = attentionTrainingDouble(
      query: doubles(x.query), keys: doubles(x.keys), values: doubles(x.values), tokens: c.tokens, heads: c.heads,
      kvHeads: c.kvHeads, headDim: c.headDim, segmentStarts: c.segmentStarts)
    let one = forward(c, x, workers: 1)
    // Same error budget as `AttentionTests`: ≤ 9-term products, a softmax, a convex combination.
    #expect(normwiseRelativeError(one, want) <= relativeTolerance)
    #expect(one == forward(c, x, workers: 2))
  }

  @Test func forwardWithoutSegmentsIsTheInferenceKernelAtStartZero() {
    let c = Case(tokens: 5, heads: 4, kvHeads: 2, headDim: 8)
    let x = Inputs(c)
    var scores = [Float](repeating: .nan, count: 25)
    var inference = [Float](repeating: .nan, count: 5 * 32)
    causalAttentionForward(
      query: x.query, keys: x.keys, values: x.values, output: &inference, tokens: 5, start: 0, heads: 4, kvHeads: 2,
      headDim: 8, scores: &scores, scoresPerWorker: 25, workers: 1)
    #expect(forward(c, x, workers: 1) == inference)
  }

  @Test(arguments: cases)
  func gradientsMatchFiniteDifferencesAndAreTheSameForAnyWorkerCount(_ c: Case) {
    let x = Inputs(c)
    let (dq, dk, dv) = backward(c, x, workers: 1)
    let (query, keys, values) = (doubles(x.query), doubles(x.keys), doubles(x.values))
    func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
      functional(
        x.outputGradient,
        attentionTrainingDouble(
          query: q, keys: k, values: v, tokens: c.tokens, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
          segmentStarts: c.segmentStarts))
    }
    let wantDq = centralDifferences(query) { loss($0, keys, values) }
    let wantDk = centralDifferences(keys) { loss(query, $0, values) }
    let wantDv = centralDifferences(values) { loss(query, keys, $0) }
    if c.tokens == 1 {
      // A single visible position: P ≡ 1 whatever Q and K are.
      #expect(dq.allSatisfy { $0 == 0 } && dk.allSatisfy { $0 == 0 })
    } else {
      #expect(normwiseRelativeError(dq, wantDq) <= gradientTolerance)
      #expect(normwiseRelativeError(dk, wantDk) <= gradientTolerance)
    }
    #expect(normwiseRelativeError(dv, wantDv) <= gradientTolerance)

    // Each kv group is computed by the same calls whichever worker owns it: bit-identical.
    let two = backward(c, x, workers: 2)
    #expect(two.dq == dq && two.dk == dk && two.dv == dv)
  }

  @Test func packedSequencesGetTheGradientsOfSeparateRuns() {
    // Two sequences of 3 and 4 tokens packed into 7 must not see each other, forward or backward.
    let packed = Case(tokens: 7, heads: 4, kvHeads: 2, headDim: 4, segmentStarts: [0, 0, 0, 3, 3, 3, 3])
    let x = Inputs(packed)
    let (q, kv) = (packed.heads * packed.headDim, packed.kvHeads * packed.headDim)
    let whole = backward(packed, x, workers: 2)
    let out = forward(packed, x, workers: 2)
    for (first, count) in [(0, 3), (3, 4)] {
      let single = Case(tokens: count, heads: 4, kvHeads: 2, headDim: 4)
      var part = x
      part.query = Array(x.query[(first * q)..<((first + count) * q)])
      part.keys = Array(x.keys[(first * kv)..<((first + count) * kv)])
      part.values = Array(x.values[(first * kv)..<((first + count) * kv)])
      part.outputGradient = Array(x.outputGradient[(first * q)..<((first + count) * q)])
      let alone = backward(single, part, workers: 1)
      let aloneOut = forward(single, part, workers: 1)
      // Different product shapes (T×T vs count×count) may sum in another order inside BLAS: compare to 1e-5.
      let wantDq = doubles(alone.dq)
      #expect(normwiseRelativeError(Array(whole.dq[(first * q)..<((first + count) * q)]), wantDq) <= relativeTolerance)
      let dk = Array(whole.dk[(first * kv)..<((first + count) * kv)])
      #expect(normwiseRelativeError(dk, doubles(alone.dk)) <= relativeTolerance)
      let dv = Array(whole.dv[(first * kv)..<((first + count) * kv)])
      #expect(normwiseRelativeError(dv, doubles(alone.dv)) <= relativeTolerance)
      let o = Array(out[(first * q)..<((first + count) * q)])
      #expect(normwiseRelativeError(o, doubles(aloneOut)) <= relativeTolerance)
    }
  }
}

/// Calls body with a pointer to the array's storage, or nil.
func withOptionalPointer<T, R>(_ array: [T]?, _ body: (UnsafePointer<T>?) -> R) -> R {
  guard let array else { return body(nil) }
  return array.withUnsafeBufferPointer { body($0.baseAddress) }
}
