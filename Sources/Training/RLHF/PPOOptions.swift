/// PPO's settings, defaults near TRL's PPOConfig (kl_coef 0.05, cliprange 0.2, cliprange_value 0.2, vf_coef 0.1,
/// γ 1, λ 0.95, 4 PPO epochs, temperature 0.7).
public struct PPOOptions: Sendable, Equatable {
  /// Rollouts sampled per PPO batch.
  public var rollouts = 8
  /// Rollouts per optimizer step within a batch's epochs.
  public var miniBatch = 4
  public var epochs = 4
  public var klCoefficient = 0.05
  public var clip = 0.2
  public var valueClip = 0.2
  public var valueCoefficient = 0.1
  public var gamma = 1.0
  public var lambda = 0.95
  public var temperature: Float = 0.7
  public var maxNewTokens = 48
  /// Subtracted from the score of a response that hit --max-new-tokens without ending its turn (TRL's
  /// missing_eos_penalty); 0 for none.
  public var missingEOSPenalty = 0.0
  public var seed: UInt64 = 0

  public init() {}

  /// Minibatches per epoch.
  public var miniBatches: Int { rollouts / miniBatch + (rollouts % miniBatch == 0 ? 0 : 1) }
  /// Optimizer steps one PPO batch takes.
  public var optimizerStepsPerBatch: Int { epochs * miniBatches }

  public func validate() throws(TrainingError) {
    let check = TrainingError.require
    try check(rollouts >= 1, "rollouts", "must be at least 1")
    try check(miniBatch >= 1 && miniBatch <= rollouts, "miniBatch", "must be between 1 and rollouts")
    try check(epochs >= 1, "ppoEpochs", "must be at least 1")
    try check(
      !epochs.multipliedReportingOverflow(by: miniBatches).overflow, "ppoEpochs",
      "\(epochs) passes over \(miniBatches) minibatches are more optimizer steps than can be counted")
    try check(klCoefficient >= 0 && klCoefficient.isFinite, "klCoefficient", "must be 0 or more")
    try check(clip > 0 && clip < 1, "clip", "must be in (0, 1)")
    try check(valueClip > 0 && valueClip.isFinite, "valueClip", "must be positive")
    try check(valueCoefficient >= 0 && valueCoefficient.isFinite, "valueCoefficient", "must be 0 or more")
    try check(gamma > 0 && gamma <= 1, "gamma", "must be in (0, 1]")
    try check(lambda >= 0 && lambda <= 1, "lambda", "must be in [0, 1]")
    try check(temperature > 0 && temperature.isFinite, "temperature", "must be positive")
    try check(maxNewTokens >= 1, "maxNewTokens", "must be at least 1")
  }
}
