public import Memory
public import Model

/// DPO's settings: β, the loss, and the weight of the chosen answers' NLL (RPO).
public struct DPOSettings: Sendable, Equatable {
  public var beta: Double
  public var kind: PreferenceLoss.DPOKind
  /// TRL's rpo_alpha; 0: plain DPO.
  public var chosenNLLWeight: Double

  public init(beta: Double = 0.1, kind: PreferenceLoss.DPOKind = .sigmoid, chosenNLLWeight: Double = 0) {
    self.beta = beta
    self.kind = kind
    self.chosenNLLWeight = chosenNLLWeight
  }
}

/// DPO of a LoRA policy on preference pairs, the same base with the adapter off as the reference.
/// ref: Rafailov et al. 2023, "Direct Preference Optimization"; Azar et al. 2023 (IPO); Pang et al. 2024 (RPO).
public struct DPOMethod: MethodDefinition {
  public var lora: LoRAConfig
  public var settings: DPOSettings

  public init(lora: LoRAConfig, settings: DPOSettings) {
    self.lora = lora
    self.settings = settings
  }

  public var name: String { "dpo" }
  public var summary: String {
    "DPO (β=\(settings.beta), \(settings.kind.rawValue)) of " + LoRAMethod(config: lora).summary
  }
  public var defaultLearningRate: Double { 5e-4 }

  public var graphNeeds: GraphNeeds { LoRAMethod(config: lora).pairRowNeeds }

  public func extraPlanLines(model: LanguageModel, seqLen: Int, workers: Int) -> [MemoryPlan.Line] {
    LoRAMethod(config: lora).extraPlanLines(model: model, seqLen: seqLen, workers: workers)
  }

  public func trainableShapes(model: ModelConfig) -> [(name: String, shape: [Int])] {
    LoRAMethod(config: lora).trainableShapes(model: model)
  }

  public func planLine(model: ModelConfig) -> (label: String, note: String) {
    LoRAMethod(config: lora).planLine(model: model)
  }

  public func make(model: LanguageModel, ledger: MemoryLedger) throws -> any TrainableMethod {
    try LoRAMethod(config: lora).make(model: model, ledger: ledger)
  }

  public func prepareObjective(_ context: ObjectiveContext) throws -> PreparedObjective {
    let seed = context.configuration.seed
    return try .pairs(context) { train, validation, pairsPerStep in
      try DPOObjective(
        train: train, validation: validation, pairsPerStep: pairsPerStep, beta: settings.beta, kind: settings.kind,
        chosenNLLWeight: settings.chosenNLLWeight, seed: seed)
    }
  }

  public var reportFields: MethodReportFields {
    var fields = LoRAMethod(config: lora).reportFields
    fields.beta = settings.beta
    fields.lossType = settings.kind.rawValue
    fields.rpoAlpha = settings.chosenNLLWeight
    return fields
  }
}
