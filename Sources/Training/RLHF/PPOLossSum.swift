/// A PPO minibatch's loss, built one rollout at a time: the clipped policy loss and the clipped value loss summed
/// over the answer tokens, how many tokens took the clipped policy branch and the approximate KL to the sampling
/// policy. `PPOObjective.accumulateStep` adds each rollout as the graph hands it the policy's current
/// log-probabilities and values; the loss is the mean over the minibatch's tokens (TRL's masked means):
/// mean policy loss + vf_coef × mean value loss.
struct PPOLossSum {
  /// Answer tokens in the whole minibatch (the means' denominator, known before the first rollout is added).
  let tokens: Int
  let options: PPOOptions
  var policy = 0.0
  var value = 0.0
  var clipped = 0
  var approxKL = 0.0

  init(tokens: Int, options: PPOOptions) {
    self.tokens = tokens
    self.options = options
  }

  /// The derivatives of the minibatch's loss with respect to log π and v at each answer token of one rollout.
  struct Gradients {
    var logProbabilities: [Double]
    var values: [Double]
  }

  /// Adds `rollout`'s answer tokens given the policy's current `logProbabilities` and `values` (one per answer
  /// token, at the sampling temperature), and returns the loss's derivatives with respect to them.
  mutating func add(_ rollout: Rollout, logProbabilities: [Double], values: [Double]) -> Gradients {
    precondition(logProbabilities.count == rollout.answer.count && values.count == rollout.answer.count)
    let scale = 1 / Double(max(tokens, 1))
    var gradients = Gradients(
      logProbabilities: .init(repeating: 0, count: logProbabilities.count),
      values: .init(repeating: 0, count: values.count))
    for k in logProbabilities.indices {
      let old = rollout.oldLogProbabilities[k]
      let pg = PPOMath.policyLoss(
        logProbability: logProbabilities[k], old: old, advantage: rollout.advantages[k], clip: options.clip)
      let vf = PPOMath.valueLoss(
        value: values[k], old: rollout.oldValues[k], target: rollout.returns[k], clip: options.valueClip)
      policy += pg.loss
      value += vf.loss
      if pg.clipped { clipped += 1 }
      approxKL += 0.5 * (logProbabilities[k] - old) * (logProbabilities[k] - old)
      gradients.logProbabilities[k] = pg.gradient * scale
      gradients.values[k] = options.valueCoefficient * vf.gradient * scale
    }
    return gradients
  }

  /// The minibatch's loss: mean policy loss + vf_coef × mean value loss.
  var loss: Double { (policy + options.valueCoefficient * value) / Double(max(tokens, 1)) }

  /// Mean policy loss, value loss, clipped fraction and approximate KL (the step's metrics).
  var metrics: [String: Double] {
    let n = Double(max(tokens, 1))
    return [
      "policy_loss": policy / n, "value_loss": value / n, "clip_fraction": Double(clipped) / n,
      "approx_kl": approxKL / n,
    ]
  }
}
