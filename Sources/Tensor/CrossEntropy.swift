import Glibc

/// Softmax cross-entropy of one chunk of rows, forward and backward in one pass, so the full (T, vocab) logits are
/// never held: the caller computes a chunk of logits, calls this, and multiplies the returned gradient chunk by the
/// head matrix for the hidden-state gradient before computing the next chunk.
///
/// Per counted row: loss = logSumExp(logits) − logits[target]; the chunk is OVERWRITTEN with
/// lossScale · (softmax(logits) − onehot(target)), i.e. d(lossScale · loss)/dlogits. Rows whose target is negative
/// (prompt tokens, padding) are ignored: no loss, a zero gradient row.
/// For a mean over the batch, pass lossScale = 1 / (number of counted targets in the whole batch), which the caller
/// knows from the targets before the first chunk.
/// - Parameters:
///   - logits: (rows, vocab), replaced by the scaled gradient.
///   - targets: (rows) token ids in 0..<vocab, or negative for ignored.
///   - workers: rows are split across this many workers (an expf per logit is worth two cores at vocab 49k).
/// - Returns: lossSum, the unscaled Σ of the counted rows' losses (Double), and counted, the number of those rows.
/// ref: PyTorch's cross_entropy (ignore_index semantics, any negative here); llm.c's
/// crossentropy_softmax_backward; the stable softmax subtracts the row maximum.
public func crossEntropyForwardBackward(
  logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int, lossScale: Float,
  workers: Int = 1
) -> (lossSum: Double, counted: Int) {
  crossEntropyParts(logits, targets, rows: rows, vocab: vocab, lossScale: lossScale, rowScales: nil, workers: workers)
}

/// `crossEntropyForwardBackward` with one loss scale per row: row r's gradient is
/// lossScales[r] · (softmax − onehot). Objectives built on sequence log-probabilities (DPO, PPO) weight each token
/// differently: with g = d(objective)/d(log p(target)), pass lossScales[r] = −g, since d log p/dlogits = onehot − softmax.
public func crossEntropyForwardBackward(
  logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
  lossScales: UnsafePointer<Float>, workers: Int = 1
) -> (lossSum: Double, counted: Int) {
  crossEntropyParts(logits, targets, rows: rows, vocab: vocab, lossScale: 1, rowScales: lossScales, workers: workers)
}

/// Log-probability of each row's target under softmax(logits), without changing the logits: log p = z[target] −
/// logSumExp(z). Rows with a negative target get 0. With `entropies`, also each row's entropy −Σ p log p.
public func tokenLogProbabilities(
  logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
  output: UnsafeMutablePointer<Float>, entropies: UnsafeMutablePointer<Float>? = nil, workers: Int = 1
) {
  let logitsP = SendableConstPointer(logits)
  let targetsP = SendableConstPointer(targets)
  let outputP = SendablePointer(output)
  let entropiesP = entropies.map { SendablePointer($0) }
  parallelParts(max(1, min(workers, rows))) { part in
    for r in partition(rows, parts: max(1, min(workers, rows)), part: part) {
      let row = logitsP.pointer + r * vocab
      let target = Int(targetsP.pointer[r])
      precondition(target < vocab, "target \(target) of row \(r) is outside the vocabulary of \(vocab)")
      let maximum = rowMaximum(row, count: vocab)
      var total = 0.0
      var weighted = 0.0  // Σ e^(z−max)·(z−max), for the entropy
      for i in 0..<vocab {
        let shifted = row[i] - maximum
        let e = Double(expf(shifted))
        total += e
        weighted += e * Double(shifted)
      }
      let logTotal = log(total)
      outputP.pointer[r] = target < 0 ? 0 : Float(Double(row[target] - maximum) - logTotal)
      // H = −Σ p (z − max − log Σ) = log Σ − (Σ e·(z − max)) / Σ.
      entropiesP?.pointer[r] = Float(logTotal - weighted / total)
    }
  }
}

private func crossEntropyParts(
  _ logits: UnsafeMutablePointer<Float>, _ targets: UnsafePointer<Int32>, rows: Int, vocab: Int, lossScale: Float,
  rowScales: UnsafePointer<Float>?, workers: Int
) -> (lossSum: Double, counted: Int) {
  let parts = max(1, min(workers, rows))
  if parts == 1 {
    return crossEntropyRows(logits, targets, 0..<rows, vocab: vocab, lossScale: lossScale, rowScales: rowScales)
  }
  let logitsP = SendablePointer(logits)
  let targetsP = SendableConstPointer(targets)
  let scalesP = rowScales.map { SendableConstPointer($0) }
  return withUnsafeTemporaryAllocation(of: (lossSum: Double, counted: Int).self, capacity: parts) { results in
    let resultsP = SendablePointer(results.baseAddress!)
    parallelParts(parts) { part in
      let range = partition(rows, parts: parts, part: part)
      (resultsP.pointer + part).initialize(
        to: crossEntropyRows(
          logitsP.pointer, targetsP.pointer, range, vocab: vocab, lossScale: lossScale, rowScales: scalesP?.pointer))
    }
    // Summed in part order: the gradient is the same for any worker count, the loss sum up to Double rounding.
    return results.reduce((0, 0)) { ($0.lossSum + $1.lossSum, $0.counted + $1.counted) }
  }
}

/// `crossEntropyForwardBackward` over rows `range` of the chunk.
private func crossEntropyRows(
  _ logits: UnsafeMutablePointer<Float>, _ targets: UnsafePointer<Int32>, _ range: Range<Int>, vocab: Int,
  lossScale: Float, rowScales: UnsafePointer<Float>?
) -> (lossSum: Double, counted: Int) {
  var lossSum = 0.0
  var counted = 0
  for r in range {
    let row = logits + r * vocab
    let target = Int(targets[r])
    if target < 0 {
      row.update(repeating: 0, count: vocab)
      continue
    }
    precondition(target < vocab, "target \(target) of row \(r) is outside the vocabulary of \(vocab)")
    let maximum = rowMaximum(row, count: vocab)
    let targetLogit = row[target]
    // One expf per entry, kept in place; the sum is in Double because it has vocab (~50k) terms.
    var total = 0.0
    for i in 0..<vocab {
      let e = expf(row[i] - maximum)
      row[i] = e
      total += Double(e)
    }
    lossSum += Double(maximum) + log(total) - Double(targetLogit)
    counted += 1
    let scale = rowScales.map { $0[r] } ?? lossScale
    let factor = Float(Double(scale) / total)
    for i in 0..<vocab { row[i] *= factor }
    row[target] -= scale
  }
  return (lossSum, counted)
}

/// max over `count` ≥ 1 entries, eight lanes at a time.
private func rowMaximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
  var lanes = SIMD8<Float>(repeating: -.infinity)
  var i = 0
  let raw = UnsafeRawPointer(x)
  while i + 8 <= count {
    lanes = pointwiseMax(lanes, raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
    i += 8
  }
  var maximum = lanes.max()
  while i < count {
    maximum = max(maximum, x[i])
    i += 1
  }
  return maximum
}
