import Glibc
import Tensor

/// Mean cross-entropy and perplexity of a token sequence, windowed by the context: the ids are cut into consecutive
/// non-overlapping windows of `window` tokens, each evaluated from an empty cache, each predicting its own tokens
/// 1..<n from the ones before (a window of n tokens predicts n − 1). Logits are consumed `logitRows` positions at a
/// time and never held for the whole window.
/// The same definition as Tools/reference/llama_reference.py, so the figures compare directly.
public struct PerplexityResult: Sendable, Codable, Equatable {
  public var tokens: Int
  public var predicted: Int
  public var meanLoss: Double
  public var perplexity: Double

  enum CodingKeys: String, CodingKey {
    case tokens, predicted
    case meanLoss = "mean_loss"
    case perplexity
  }
}

public func evaluatePerplexity(
  ids: [Int32], window: Int, prefix: [Int32] = [], session: InferenceSession, progress: (Int) -> Void = { _ in }
) throws -> PerplexityResult {
  precondition(window > prefix.count && window <= session.capacity, "window must fit the session and the prefix")
  var totalLoss = 0.0
  var predicted = 0
  var start = 0
  let step = window - prefix.count
  while start < ids.count {
    let windowIDs = Array(ids[start..<min(ids.count, start + step)])
    session.reset()
    // A soft prompt's virtual tokens go before every window; only the window's own tokens are scored.
    try session.forward(prefix + windowIDs, logits: .all) { index, logits in
      let t = index - prefix.count
      guard t >= 0, t + 1 < windowIDs.count else { return }
      let target = Int(windowIDs[t + 1])
      totalLoss += logSumExp(logits.baseAddress!, count: logits.count) - Double(logits[target])
      predicted += 1
    }
    start += windowIDs.count
    progress(start)
  }
  let mean = predicted > 0 ? totalLoss / Double(predicted) : 0
  return PerplexityResult(
    tokens: ids.count, predicted: predicted, meanLoss: mean, perplexity: predicted > 0 ? exp(mean) : 1)
}
