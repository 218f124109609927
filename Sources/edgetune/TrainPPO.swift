import ArgumentParser
import Memory
import Model
import Training

/// `edgetune train ppo`: PPO of a LoRA policy with a value head against a reward model, every role on one base.
struct TrainPPO: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ppo",
    abstract: "PPO: tune a LoRA policy toward a reward model's scores, the frozen base (adapter off) as reference.",
    discussion: """
      Every role shares the one mapped base: the policy is the base + this run's LoRA, the reference the base with
      it off, the reward model (--reward, from `train reward`) the base + its own LoRA and score head, the value
      model a head on the policy's hidden states. A step is one PPO batch: --rollouts answers sampled with the KV
      cache (--temperature, --max-new-tokens, stopping at the end of the turn), scored, per-token KL penalty against
      the reference, GAE, whitened advantages, then --ppo-epochs passes in minibatches of --mini-batch rollouts
      (each an optimizer step). --steps counts PPO batches; --seq-len bounds prompt + answer. --init-adapter starts
      the policy from a supervised adapter (InstructGPT's SFT → RM → PPO); the KL is still measured against the
      base. The result is a PEFT LoRA adapter (plus value_head.safetensors) for `generate --adapter`.
      """)

  @OptionGroup var training: TrainingOptions
  @OptionGroup var lora: LoRAOptions
  @OptionGroup var output: TrainingOutputOptions

  @Option(help: "The reward model (a directory written by `train reward`).")
  var reward: String

  @Option(help: "Prompts, JSONL: {\"prompt\": \"text\"}, {\"prompt\": [messages]} or {\"messages\": [...]}.")
  var prompts: String

  @Option(help: "Held-out prompts: mean score and KL of sampled answers before, during (--eval-every) and after.")
  var valPrompts: String?

  @Option(help: "Start the policy's LoRA from this adapter (same --rank and --targets).")
  var initAdapter: String?

  @Option(help: "Rollouts sampled per PPO batch.")
  var rollouts: Int = 8

  @Option(help: "Rollouts per optimizer step.")
  var miniBatch: Int = 4

  @Option(help: "Passes over each batch.")
  var ppoEpochs: Int = 4

  @Option(help: "Per-token KL penalty coefficient β.")
  var klCoef: Double = 0.05

  @Option(help: "Policy ratio clip ε.")
  var clip: Double = 0.2

  @Option(help: "Value clip around the old values.")
  var valueClip: Double = 0.2

  @Option(help: "Weight of the value loss.")
  var vfCoef: Double = 0.1

  @Option(help: "Discount γ.")
  var gamma: Double = 1

  @Option(help: "GAE λ.")
  var lam: Double = 0.95

  @Option(help: "Sampling temperature of rollouts (log-probabilities use the same).")
  var temperature: Float = 0.7

  @Option(help: "Longest answer in tokens.")
  var maxNewTokens: Int = 48

  @Option(help: "Subtracted from the score of an answer cut at --max-new-tokens (0: none).")
  var missingEosPenalty: Double = 0

  func options() throws -> PPOOptions {
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
    p.seed = training.seed
    try p.validate()
    return p
  }

  func validate() throws {
    do { _ = try options() } catch { throw ValidationError("\(error)") }
    guard maxNewTokens < training.seqLen else {
      throw ValidationError(
        "--max-new-tokens (\(maxNewTokens)) must leave room for the prompt in --seq-len (\(training.seqLen))")
    }
    guard training.data.isEmpty else { throw ValidationError("PPO samples its own data: give --prompts, not --data") }
  }

  func run() throws {
    let ppo = try options()
    let config = try LoRAConfig(
      rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, targets: try lora.targetList(),
      useRSLoRA: lora.rslora, seed: training.seed)
    var recipe = try MethodRecipe.lora(lora, seed: training.seed)
    recipe.name = "ppo"
    recipe.summary = "PPO of " + recipe.summary + " + value head"
    recipe.defaultLearningRate = 1e-5
    recipe.objective = .ppo(
      MethodRecipe.PPOSettings(
        prompts: prompts, validationPrompts: valPrompts, rewardModel: reward, options: ppo))
    // The reward model's size, for the plan (loading it later checks the rest).
    let rewardConfig = try LoRAAdapterSet.config(in: reward)
    let plan = recipe.plan
    recipe.plan = { options in
      plan(&options)
      options.valueHead = true
      options.rollout = (rewardConfig.rank, rewardConfig.targets)
    }
    let start = initAdapter
    recipe.make = { model, ledger in
      let policy = try ValueHeadPolicy(config: config, model: model.config, ledger: ledger)
      if let start { try policy.startFrom(adapter: start, ledger: ledger) }
      return policy
    }
    recipe.report["init_adapter"] = initAdapter as Any
    try output.train(training, recipe)
  }

}
