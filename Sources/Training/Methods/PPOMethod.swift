public import Memory
public import Model

/// What PPO needs besides its LoRA: prompts, the reward model, PPO's hyperparameters, an optional warm start.
public struct PPOSettings: Sendable {
  public var prompts: String
  public var validationPrompts: String?
  /// A directory written by a reward run.
  public var rewardModel: String
  /// The reward model's LoRA rank and targets, read from its adapter_config.json (for the plan).
  public let rewardLoRA: LoRAConfig
  public var options: PPOOptions
  /// Start the policy's LoRA from this adapter (same rank and targets).
  public var initAdapter: String?

  /// Reads the reward model's configuration; throws when `rewardModel` is not a reward model directory.
  public init(
    prompts: String, validationPrompts: String? = nil, rewardModel: String, options: PPOOptions,
    initAdapter: String? = nil
  ) throws {
    try options.validate()
    self.prompts = prompts
    self.validationPrompts = validationPrompts
    self.rewardModel = rewardModel
    self.rewardLoRA = try LoRAAdapterSet.config(in: rewardModel)
    self.options = options
    self.initAdapter = initAdapter
  }
}

/// PPO of a LoRA policy with a value head against a reward model, every role on the one mapped base.
/// ref: Schulman et al. 2017, "Proximal Policy Optimization"; Ouyang et al. 2022 (InstructGPT); TRL's PPOTrainer.
public struct PPOMethod: MethodDefinition {
  public var lora: LoRAConfig
  public var settings: PPOSettings

  public init(lora: LoRAConfig, settings: PPOSettings) {
    self.lora = lora
    self.settings = settings
  }

  public var name: String { "ppo" }
  public var summary: String { "PPO of " + LoRAMethod(config: lora).summary + " + value head" }
  public var defaultLearningRate: Double { 1e-5 }

  public func validate(model: ModelConfig) throws {
    try TrainingError.require(!lora.useDoRA, "useDoRA", "PPO trains a plain LoRA policy; DoRA is for lora and dpo")
  }
  public var graphNeeds: GraphNeeds { LoRAMethod(config: lora).graphNeeds }

  public func trainableShapes(model: ModelConfig) -> [(name: String, shape: [Int])] {
    LoRAMethod(config: lora).trainableShapes(model: model)
      + LoRAHeads.value(hidden: model.hiddenSize).tensors.map { ($0.name, $0.shape) }
  }

  public func planLine(model: ModelConfig) -> (label: String, note: String) {
    LoRAMethod(config: lora).planLine(model: model)
  }

  /// The rollout session (KV cache for the sequence length and its buffers) and the reward model's LoRA and score
  /// head (values and gradients), all on the same base.
  public func extraPlanLines(model: LanguageModel, seqLen: Int, workers: Int) -> [MemoryPlan.Line] {
    let c = model.config
    let session = InferenceSession.plannedBytes(config: c, capacity: seqLen, chunk: 128, workers: workers)
    let rewardBytes = ParameterStore.plannedBytes(
      shapes: RewardMethod(lora: settings.rewardLoRA).trainableShapes(model: c))
    return [
      MemoryPlan.Line(
        "kv-cache", session["kv-cache", default: 0], .ledger,
        "rollouts: keys and values of \(seqLen) tokens × \(c.layerCount) layers"),
      MemoryPlan.Line(
        "rollout", session.filter { $0.key != "kv-cache" }.values.reduce(0, +), .ledger,
        "rollouts: one 128-token chunk's activations, scores and logits"),
      MemoryPlan.Line(
        "reward-model", 2 * rewardBytes, .ledger,
        "the reward model's LoRA r=\(settings.rewardLoRA.rank) and score head (values and gradients), on the same base"
      ),
    ]
  }

  public func make(model: LanguageModel, ledger: MemoryLedger) throws -> any TrainableMethod {
    let policy = try ValueHeadPolicy(config: lora, model: model.config, ledger: ledger)
    if let start = settings.initAdapter { try policy.startFrom(adapter: start, ledger: ledger) }
    return policy
  }

  public func prepareObjective(_ context: ObjectiveContext) throws -> PreparedObjective {
    let o = context.configuration
    guard o.data.isEmpty else {
      throw TrainingError.invalidOption(name: "data", reason: "PPO samples its own data: give prompts, not data")
    }
    let p = settings.options
    guard p.maxNewTokens < o.seqLen else {
      throw TrainingError.invalidOption(
        name: "maxNewTokens", reason: "\(p.maxNewTokens) must leave room for the prompt in seqLen (\(o.seqLen))")
    }
    let model = context.model
    let reward = try RewardModel.load(
      from: settings.rewardModel, model: model.config, tokenizer: model.tokenizer.fingerprint, ledger: context.ledger)
    let room = o.seqLen - p.maxNewTokens
    let prompts = try PromptSet.load(path: settings.prompts, model: model, maxTokens: room)
    let validation = try settings.validationPrompts.map { try PromptSet.load(path: $0, model: model, maxTokens: room) }
    context.note(
      "prompts \(settings.prompts): \(prompts.count)"
        + (validation.map { ", held out \($0.path): \($0.count) (evaluated: at most 32)" } ?? ""))
    let objective = try PPOObjective(
      prompts: prompts, validation: validation, reward: reward, model: model, encoder: context.encoder,
      capacity: o.seqLen, options: p, ledger: context.ledger)
    var prepared = PreparedObjective(
      objective: objective, stepsPerEpoch: Double(prompts.count) / Double(p.rollouts),
      stepUnits: "\(p.rollouts) rollouts × \(p.epochs) epochs in minibatches of \(p.miniBatch)")
    prepared.stepMultiplier = p.optimizerStepsPerBatch
    prepared.graphRank = reward.adapters.config.rank
    prepared.prompts = prompts.count
    return prepared
  }

  public var reportFields: MethodReportFields {
    var fields = LoRAMethod(config: lora).reportFields
    let p = settings.options
    fields.rewardModel = settings.rewardModel
    fields.initAdapter = settings.initAdapter
    fields.rollouts = p.rollouts
    fields.miniBatch = p.miniBatch
    fields.ppoEpochs = p.epochs
    fields.klCoef = p.klCoefficient
    fields.clip = p.clip
    fields.valueClip = p.valueClip
    fields.vfCoef = p.valueCoefficient
    fields.gamma = p.gamma
    fields.lambda = p.lambda
    fields.temperature = Double(p.temperature)
    fields.maxNewTokens = p.maxNewTokens
    fields.missingEOSPenalty = p.missingEOSPenalty
    return fields
  }
}
