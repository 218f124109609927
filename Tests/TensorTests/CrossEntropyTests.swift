import Foundation
import Tensor
import Testing

/// Naive twin of the cross-entropy loss in Double: Σ over rows with target ≥ 0 of logSumExp(row) − row[target].
func crossEntropyDouble(_ logits: [Double], targets: [Int32], vocab: Int) -> (sum: Double, counted: Int) {
  var sum = 0.0
  var counted = 0
  for (r, target) in targets.enumerated() where target >= 0 {
    let row = logits[(r * vocab)..<((r + 1) * vocab)]
    let maximum = row.max()!
    sum += maximum + log(row.map { exp($0 - maximum) }.reduce(0, +)) - row[r * vocab + Int(target)]
    counted += 1
  }
  return (sum, counted)
}

@Suite struct CrossEntropyTests {
  static let vocab = 11  // not a multiple of 8: the SIMD maximum has a tail
  static let targets: [Int32] = [3, -1, 0, 10, -100]

  @Test(arguments: [Float(1), 0.25])
  func gradientMatchesFiniteDifferencesAndIgnoredRowsAreZero(lossScale: Float) {
    let vocab = Self.vocab
    let rows = Self.targets.count
    let logits = randomFloats(rows * vocab, seed: 17, in: -4...4)
    var chunk = logits
    let (lossSum, counted) = crossEntropyForwardBackward(
      logits: &chunk, targets: Self.targets, rows: rows, vocab: vocab, lossScale: lossScale)
    let want = crossEntropyDouble(doubles(logits), targets: Self.targets, vocab: vocab)
    #expect(counted == 3 && want.counted == 3)
    // A few log/exp roundings per row and Double sums: well inside 1e-5.
    #expect(abs(lossSum - want.sum) <= relativeTolerance * want.sum)
    let wantGradient = centralDifferences(doubles(logits)) {
      Double(lossScale) * crossEntropyDouble($0, targets: Self.targets, vocab: vocab).sum
    }
    #expect(normwiseRelativeError(chunk, wantGradient) <= gradientTolerance)
    for r in [1, 4] { #expect(chunk[(r * vocab)..<((r + 1) * vocab)].allSatisfy { $0 == 0 }) }
    // Each counted row of softmax − onehot sums to 0.
    for r in [0, 2, 3] { #expect(abs(chunk[(r * vocab)..<((r + 1) * vocab)].reduce(0, +)) <= 1e-6) }
  }

  @Test func chunksAndWorkersGiveTheSameResultAsOneCall() {
    let vocab = 37
    let targets: [Int32] = [5, 36, -1, 0, 12, 7, -1]
    let logits = randomFloats(targets.count * vocab, seed: 3, in: -3...3)
    var whole = logits
    let all = crossEntropyForwardBackward(
      logits: &whole, targets: targets, rows: targets.count, vocab: vocab, lossScale: 0.2)
    var pieces = logits
    var sum = 0.0
    var counted = 0
    pieces.withUnsafeMutableBufferPointer { p in
      targets.withUnsafeBufferPointer { t in
        for (first, rows) in [(0, 3), (3, 1), (4, 3)] {
          let part = crossEntropyForwardBackward(
            logits: p.baseAddress! + first * vocab, targets: t.baseAddress! + first, rows: rows, vocab: vocab,
            lossScale: 0.2)
          sum += part.lossSum
          counted += part.counted
        }
      }
    }
    // Rows are independent, so the gradient is bit-identical; the loss sum differs only in Double rounding.
    #expect(pieces == whole)
    #expect(counted == all.counted && abs(sum - all.lossSum) <= 1e-12 * all.lossSum)

    var parallel = logits
    let two = crossEntropyForwardBackward(
      logits: &parallel, targets: targets, rows: targets.count, vocab: vocab, lossScale: 0.2, workers: 2)
    #expect(parallel == whole)
    #expect(two.counted == all.counted && abs(two.lossSum - all.lossSum) <= 1e-12 * all.lossSum)
  }

  @Test func largeLogitsStayFinite() {
    let logits: [Float] = [1000, 999, -1000, 0, 3e4, 3e4 - 1]
    var chunk = logits
    let (lossSum, counted) = crossEntropyForwardBackward(
      logits: &chunk, targets: [1, 2], rows: 2, vocab: 3, lossScale: 1)
    let want = crossEntropyDouble(doubles(logits), targets: [1, 2], vocab: 3)
    #expect(counted == 2)
    #expect(abs(lossSum - want.sum) <= relativeTolerance * want.sum)
    #expect(chunk.allSatisfy { $0.isFinite })
  }
}
