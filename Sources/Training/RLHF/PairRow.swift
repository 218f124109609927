/// A preference pair as one graph row: the chosen sequence, then the rejected one, each its own segment (positions
/// restart and attention stops at the boundary). One forward scores both, and a loss that couples them (DPO, the
/// reward ranking) gets one backward, with no second pass and no stored activations of the other sequence.
struct PairRow {
  let row: TrainingGraph.Row
  /// Tokens of the chosen sequence: it occupies 0..<chosenCount, the rejected one the rest.
  let chosenCount: Int

  init(_ pair: PreferencePair, dropoutSeed: UInt64? = nil) {
    chosenCount = pair.chosen.count
    let starts =
      [Int32](repeating: 0, count: pair.chosen.count)
      + [Int32](repeating: Int32(pair.chosen.count), count: pair.rejected.count)
    // Each sequence's last target is −1 (nothing follows it), so no target crosses the boundary.
    row = TrainingGraph.Row(
      tokens: pair.chosen.tokens + pair.rejected.tokens, targets: pair.chosen.targets + pair.rejected.targets,
      segmentStarts: starts, dropoutSeed: dropoutSeed)
  }

  var chosen: Range<Int> { 0..<chosenCount }
  var rejected: Range<Int> { chosenCount..<row.tokens.count }
  /// The last token of each sequence, where a reward is read.
  var lastPositions: [Int] { [chosenCount - 1, row.tokens.count - 1] }

  /// Σ log p over a sequence's targeted positions, and how many there are.
  func sum(_ logProbabilities: [Float], over range: Range<Int>) -> (sum: Double, count: Int) {
    var sum = 0.0
    var count = 0
    for t in range where row.targets[t] >= 0 {
      sum += Double(logProbabilities[t])
      count += 1
    }
    return (sum, count)
  }
}
