public import Memory
public import Model

/// A fine-tuning method and its configuration: the one value that says what a run trains and on which objective.
/// Every case is handled by the single switch in `definition`; everything else about a method (its planned shapes,
/// plan line, defaults, how its trainable parts are made and its data prepared, its report fields) lives in that
/// method's `MethodDefinition`. Adding a method is one file with its definition plus one case here.
public enum FineTuneMethod: Sendable {
  /// LoRA (QLoRA on an NF4 base) on next-token loss.
  case lora(LoRAConfig)
  /// Prompt tuning: a soft prompt of virtual tokens before every input.
  case prompt(SoftPromptSettings)
  /// Bottleneck adapters after attention and/or the MLP.
  case adapter(BottleneckConfig)
  /// IA3 scaling vectors on k, v and down_proj's input.
  case ia3(seed: UInt64)
  /// Selective tuning of chosen existing tensors.
  case selective(SelectiveTensors)
  /// A reward model: LoRA and a score head on the pairwise ranking loss.
  case reward(LoRAConfig, margin: Double)
  /// DPO of a LoRA policy against the adapter-off base.
  case dpo(LoRAConfig, DPOSettings)
  /// PPO of a LoRA policy with a value head against a reward model.
  case ppo(LoRAConfig, PPOSettings)

  /// The method's definition.
  public var definition: any MethodDefinition {
    switch self {
    case .lora(let config): LoRAMethod(config: config)
    case .prompt(let settings): PromptMethod(settings: settings)
    case .adapter(let config): BottleneckMethod(config: config)
    case .ia3(let seed): IA3Method(seed: seed)
    case .selective(let tensors): SelectiveMethod(tensors: tensors)
    case .reward(let config, let margin): RewardMethod(lora: config, margin: margin)
    case .dpo(let config, let settings): DPOMethod(lora: config, settings: settings)
    case .ppo(let config, let settings): PPOMethod(lora: config, settings: settings)
    }
  }
}

/// What the training graph must hold for a method, for plans (the trainer reads the same from the method's parts).
public struct GraphNeeds: Sendable, Equatable {
  /// The LoRA rank the graph's buffers hold (1 when the method has no LoRA).
  public var rank = 1
  /// LoRA dropout masks.
  public var dropout = false
  /// Bottleneck adapters (their size decides the graph's adapter buffers).
  public var bottleneck: BottleneckConfig?
  /// IA3 scaling vectors (unscaled copies of keys, values and down_proj's input).
  public var scalingVectors = false
  /// DoRA's magnitudes on the LoRA pairs (the saved outputs and norms of every DoRA projection).
  public var dora = false
  /// A row holds a preference pair (chosen and rejected, each up to the sequence length).
  public var pairRows = false
  public init() {}
}

/// Everything one method contributes to a run. Each method's file implements it; `FineTuneMethod.definition` is the
/// only place that lists them.
public protocol MethodDefinition: Sendable {
  /// The report's `method`: "lora", "prompt", ….
  var name: String { get }
  /// For the log: "LoRA r=8 alpha=16 on q,v".
  var summary: String { get }
  /// The peak learning rate when the configuration gives none.
  var defaultLearningRate: Double { get }
  /// Virtual tokens before every example (soft prompts), 0 otherwise.
  var virtualTokens: Int { get }
  /// What the graph must hold.
  var graphNeeds: GraphNeeds { get }
  /// The trainable tensors (name, shape), as the method's `ParameterStore` will hold them.
  func trainableShapes(model: ModelConfig) -> [(name: String, shape: [Int])]
  /// The ledger label of the method's parameters and the plan's note on them.
  func planLine(model: ModelConfig) -> (label: String, note: String)
  /// Plan lines beyond the graph and the trainable parameters (PPO's rollout session and reward model).
  func extraPlanLines(model: LanguageModel, seqLen: Int, workers: Int) -> [MemoryPlan.Line]
  /// Checks the configuration against the loaded model before planning (a reduction factor that does not divide
  /// the hidden size, more layers than the model has).
  func validate(model: ModelConfig) throws
  /// The trainable parts, reserved from `ledger`.
  func make(model: LanguageModel, ledger: MemoryLedger) throws -> any TrainableMethod
  /// The objective and its data (read and tokenized up front, so bad input stops the run before training).
  func prepareObjective(_ context: ObjectiveContext) throws -> PreparedObjective
  /// The method's fields in the report.
  var reportFields: MethodReportFields { get }
}

extension MethodDefinition {
  public var virtualTokens: Int { 0 }
  public func extraPlanLines(model: LanguageModel, seqLen: Int, workers: Int) -> [MemoryPlan.Line] { [] }
  public func validate(model: ModelConfig) throws {}
  /// Next-token loss on the configuration's data: the objective of every method but the preference and RL ones.
  public func prepareObjective(_ context: ObjectiveContext) throws -> PreparedObjective {
    try SupervisedObjective.prepare(context)
  }
}
