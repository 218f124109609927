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

extension PerplexityResult {
  /// The result of `predicted` scored positions whose losses sum to `totalLoss` (perplexity 1 when none was scored).
  init(tokens: Int, predicted: Int, totalLoss: Double) {
    let mean = predicted > 0 ? totalLoss / Double(predicted) : 0
    self.init(tokens: tokens, predicted: predicted, meanLoss: mean, perplexity: predicted > 0 ? exp(mean) : 1)
  }

  /// −log softmax(logits)[target]: one scored position's loss.
  static func loss(_ logits: UnsafeBufferPointer<Float>, target: Int) -> Double {
    logSumExp(logits.baseAddress!, count: logits.count) - Double(logits[target])
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
      totalLoss += PerplexityResult.loss(logits, target: Int(windowIDs[t + 1]))
      predicted += 1
    }
    start += windowIDs.count
    progress(start)
  }
  return PerplexityResult(tokens: ids.count, predicted: predicted, totalLoss: totalLoss)
}

/// Perplexity as llama.cpp's llama-perplexity defines it, so that its figure and ours compare directly: the ids are
/// cut into ⌊count / chunk⌋ chunks of `chunk` tokens (the tail is dropped), each evaluated from an empty cache with its
/// first token replaced by `bos` when the model adds one, and only the second half is scored: positions chunk/2 up to
/// chunk − 2, each predicting the next token of the chunk.
/// ref: llama.cpp tools/perplexity/perplexity.cpp, perplexity() (`first = n_ctx/2`).
/// - Throws: `ModelError.contextExceeded` when `chunk` exceeds the session, `ModelError.invalidConfig` when there are
///   fewer than two chunks' tokens (llama-perplexity's own requirement) or the chunk is shorter than 4.
public func evaluatePerplexityAsLlamaCpp(
  ids: [Int32], chunk: Int, bos: Int32?, session: InferenceSession, progress: (Int) -> Void = { _ in }
) throws -> PerplexityResult {
  guard chunk <= session.capacity else { throw ModelError.contextExceeded(tokens: chunk, limit: session.capacity) }
  guard chunk >= 4, ids.count >= 2 * chunk else {
    throw ModelError.invalidConfig(
      path: "llama-perplexity scoring",
      reason: "\(ids.count) tokens; chunks of \(chunk) need at least \(2 * chunk) tokens and a chunk of at least 4")
  }
  let first = chunk / 2
  var totalLoss = 0.0
  var predicted = 0
  for start in stride(from: 0, to: ids.count / chunk * chunk, by: chunk) {
    var chunkIDs = Array(ids[start..<(start + chunk)])
    if let bos { chunkIDs[0] = bos }
    session.reset()
    try session.forward(chunkIDs, logits: .all) { index, logits in
      guard index >= first, index + 1 < chunk else { return }
      // The target is the original token (llama.cpp restores it after the forward).
      totalLoss += PerplexityResult.loss(logits, target: Int(ids[start + index + 1]))
      predicted += 1
    }
    progress(start + chunk)
  }
  return PerplexityResult(tokens: ids.count, predicted: predicted, totalLoss: totalLoss)
}
