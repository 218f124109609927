import ArgumentParser
import Training

/// DPO's options (`train dpo`, and `plan`/`profile --method dpo`).
struct DPOOptions: ParsableArguments {
  @Option(help: "DPO: β, the strength of the pull toward the reference (TRL's default 0.1).")
  var beta: Double = 0.1

  @Option(help: "DPO loss: sigmoid (DPO) or ipo.")
  var lossType: String = "sigmoid"

  @Option(
    help: ArgumentHelp(
      "DPO: weight of the chosen answers' mean next-token loss added to DPO's (TRL's rpo_alpha; 0: plain DPO).",
      discussion: "With pairs the base did not write, plain DPO can widen the margin by making both answers "
        + "unlikely; 1 keeps the chosen ones likely (RPO, Pang et al. 2024)."))
  var rpoAlpha: Double = 0

  func validate() throws {
    guard PreferenceLoss.DPOKind(rawValue: lossType) != nil else {
      throw ValidationError("--loss-type must be sigmoid or ipo, not '\(lossType)'")
    }
    guard beta > 0, beta.isFinite else { throw ValidationError("--beta must be positive") }
    guard rpoAlpha >= 0, rpoAlpha.isFinite else { throw ValidationError("--rpo-alpha must be 0 or more") }
  }

  var kind: PreferenceLoss.DPOKind { PreferenceLoss.DPOKind(rawValue: lossType) ?? .sigmoid }
}

/// PPO's options (`train ppo`, and `plan`/`profile --method ppo`).
struct PPOCommandOptions: ParsableArguments {
  @Option(help: "PPO: the reward model (a directory written by `train reward`).")
  var reward: String?

  @Option(help: "PPO: prompts, JSONL: {\"prompt\": \"text\"}, {\"prompt\": [messages]} or {\"messages\": [...]}.")
  var prompts: String?

  @Option(help: "PPO: held-out prompts: mean score and KL of sampled answers before, during and after.")
  var valPrompts: String?

  @Option(help: "PPO: start the policy's LoRA from this adapter (same --rank and --targets).")
  var initAdapter: String?

  @Option(help: "PPO: rollouts sampled per PPO batch.")
  var rollouts: Int = 8

  @Option(help: "PPO: rollouts per optimizer step.")
  var miniBatch: Int = 4

  @Option(help: "PPO: passes over each batch.")
  var ppoEpochs: Int = 4

  @Option(help: "PPO: per-token KL penalty coefficient β.")
  var klCoef: Double = 0.05

  @Option(help: "PPO: policy ratio clip ε.")
  var clip: Double = 0.2

  @Option(help: "PPO: value clip around the old values.")
  var valueClip: Double = 0.2

  @Option(help: "PPO: weight of the value loss.")
  var vfCoef: Double = 0.1

  @Option(help: "PPO: discount γ.")
  var gamma: Double = 1

  @Option(help: "PPO: GAE λ.")
  var lam: Double = 0.95

  @Option(help: "PPO: sampling temperature of rollouts (log-probabilities use the same).")
  var temperature: Float = 0.7

  @Option(help: "PPO: longest answer in tokens.")
  var maxNewTokens: Int = 48

  @Option(help: "PPO: subtracted from the score of an answer cut at --max-new-tokens (0: none).")
  var missingEosPenalty: Double = 0

  /// The PPO settings, checked.
  func options(seed: UInt64) throws -> PPOOptions {
    var p = PPOOptions()
    p.rollouts = rollouts
    p.miniBatch = miniBatch
    p.epochs = ppoEpochs
    p.klCoefficient = klCoef
    p.clip = clip
    p.valueClip = valueClip
    p.valueCoefficient = vfCoef
    p.gamma = gamma
    p.lambda = lam
    p.temperature = temperature
    p.maxNewTokens = maxNewTokens
    p.missingEOSPenalty = missingEosPenalty
    p.seed = seed
    try p.validate()
    return p
  }
}
