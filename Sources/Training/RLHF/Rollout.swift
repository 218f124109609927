/// One sampled answer and everything PPO derives from it before its update epochs.
struct Rollout {
  /// Prompt then answer; targets only at the positions that predict answer tokens.
  var row: TrainingGraph.Row
  /// Row positions predicting answer token k (prompt length − 1 + k).
  var positions: [Int]
  var answer: [Int32]
  /// The answer ended its turn (a stop token) rather than running into --max-new-tokens.
  var stopped: Bool
  var oldLogProbabilities: [Double]
  var referenceLogProbabilities: [Double]
  var oldValues: [Double]
  var entropies: [Double]
  /// The reward model's score (minus any missing-end penalty).
  var score: Double
  var advantages: [Double] = []
  var returns: [Double] = []

  /// Σ (log π_old − log π_ref) over the answer: the sampled estimate of KL(policy ‖ reference).
  var kl: Double { zip(oldLogProbabilities, referenceLogProbabilities).reduce(0) { $0 + $1.0 - $1.1 } }

  /// Per-token rewards: −β·(log π_old − log π_ref), plus the score on the last token.
  func rewards(klCoefficient: Double) -> [Double] {
    var rewards = zip(oldLogProbabilities, referenceLogProbabilities).map { -klCoefficient * ($0 - $1) }
    rewards[rewards.count - 1] += score
    return rewards
  }
}
