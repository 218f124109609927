public import Memory
public import Model

/// A soft prompt's configuration: its length, how it starts, and the seed of sampled or random starts.
public struct SoftPromptSettings: Sendable, Equatable {
  public var virtualTokens: Int
  public var initialization: SoftPrompt.Initialization
  public var seed: UInt64

  public init(virtualTokens: Int = 20, initialization: SoftPrompt.Initialization = .sampledVocabulary, seed: UInt64 = 0)
  {
    self.virtualTokens = virtualTokens
    self.initialization = initialization
    self.seed = seed
  }
}

/// Prompt tuning: virtual-token embeddings placed before every input, the only trainable part.
/// ref: Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning"; PEFT's PROMPT_TUNING.
public struct PromptMethod: MethodDefinition {
  public var settings: SoftPromptSettings

  public init(settings: SoftPromptSettings) { self.settings = settings }

  public var name: String { "prompt" }
  public var summary: String {
    "a soft prompt of \(settings.virtualTokens) virtual tokens (\(settings.initialization.peftName) init)"
  }
  public var defaultLearningRate: Double { 3e-2 }
  public var virtualTokens: Int { settings.virtualTokens }
  public var graphNeeds: GraphNeeds { GraphNeeds() }

  public func trainableShapes(model: ModelConfig) -> [(name: String, shape: [Int])] {
    [(SoftPrompt.tensorName, [settings.virtualTokens, model.hiddenSize])]
  }

  public func planLine(model: ModelConfig) -> (label: String, note: String) {
    ("prompt", "\(settings.virtualTokens) virtual-token embeddings of \(model.hiddenSize)")
  }

  /// The virtual tokens sit before every example, inside the model's context.
  public func validate(model: ModelConfig) throws {
    try TrainingError.require(
      settings.virtualTokens < model.contextLength, "virtualTokens",
      "must be below the model's context length \(model.contextLength), not \(settings.virtualTokens)")
  }

  public func make(model: LanguageModel, ledger: MemoryLedger) throws -> any TrainableMethod {
    try SoftPrompt(
      virtualTokens: settings.virtualTokens, initialization: settings.initialization, seed: settings.seed,
      model: model, ledger: ledger)
  }

  public var reportFields: MethodReportFields {
    var fields = MethodReportFields()
    fields.virtualTokens = settings.virtualTokens
    fields.promptInit = settings.initialization.peftName
    return fields
  }
}
