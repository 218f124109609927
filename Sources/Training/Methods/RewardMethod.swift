public import Memory
public import Model

/// A reward model: the base with LoRA and a scalar score head, trained on preference pairs with the ranking loss
/// −log σ(r_chosen − r_rejected − margin).
/// ref: Ouyang et al. 2022 (InstructGPT's reward model); TRL's RewardTrainer.
public struct RewardMethod: MethodDefinition {
  public var lora: LoRAConfig
  public var margin: Double

  public init(lora: LoRAConfig, margin: Double = 0) {
    self.lora = lora
    self.margin = margin
  }

  public var name: String { "reward" }
  public var summary: String { "a reward model (" + LoRAMethod(config: lora).summary + " + score head)" }
  public var defaultLearningRate: Double { 1e-4 }

  public var graphNeeds: GraphNeeds { LoRAMethod(config: lora).pairRowNeeds }

  public func trainableShapes(model: ModelConfig) -> [(name: String, shape: [Int])] {
    LoRAMethod(config: lora).trainableShapes(model: model)
      + LoRAHeads.score(hidden: model.hiddenSize).tensors.map { ($0.name, $0.shape) }
  }

  /// Under the label the reward model's parameters are reserved with (its LoRA and score head).
  public func planLine(model: ModelConfig) -> (label: String, note: String) {
    ("reward-model", LoRAMethod(config: lora).planLine(model: model).note + " and the score head")
  }

  public func validate(model: ModelConfig) throws {
    guard margin.isFinite else { throw TrainingError.invalidOption(name: "margin", reason: "must be a number") }
    try TrainingError.require(!lora.useDoRA, "useDoRA", "reward models train plain LoRA; DoRA is for lora and dpo")
  }

  public func make(model: LanguageModel, ledger: MemoryLedger) throws -> any TrainableMethod {
    try RewardModel(config: lora, model: model.config, tokenizer: model.tokenizer.fingerprint, ledger: ledger)
  }

  public func prepareObjective(_ context: ObjectiveContext) throws -> PreparedObjective {
    let seed = context.configuration.seed
    return try .pairs(context) { train, validation, pairsPerStep in
      try RewardObjective(train: train, validation: validation, pairsPerStep: pairsPerStep, margin: margin, seed: seed)
    }
  }

  public var reportFields: MethodReportFields {
    var fields = LoRAMethod(config: lora).reportFields
    fields.margin = margin
    return fields
  }
}
