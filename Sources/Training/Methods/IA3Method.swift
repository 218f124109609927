public import Memory
public import Model

/// IA3: learned vectors that rescale keys, values and down_proj's input.
/// ref: Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context Learning".
public struct IA3Method: MethodDefinition {
  public var seed: UInt64

  public init(seed: UInt64) { self.seed = seed }

  public var name: String { "ia3" }
  public var summary: String { "IA3 scaling vectors on k_proj, v_proj and down_proj's input" }
  public var defaultLearningRate: Double { 3e-3 }

  public var graphNeeds: GraphNeeds {
    var needs = GraphNeeds()
    needs.scalingVectors = true
    return needs
  }

  public func trainableShapes(model: ModelConfig) -> [(name: String, shape: [Int])] {
    IA3Set.tensorShapes(model: model)
  }

  public func planLine(model: ModelConfig) -> (label: String, note: String) {
    ("ia3", "IA3 vectors on k, v and down_proj's input")
  }

  public func make(model: LanguageModel, ledger: MemoryLedger) throws -> any TrainableMethod {
    try IA3Set(model: model.config, seed: seed, ledger: ledger)
  }

  public var reportFields: MethodReportFields {
    var fields = MethodReportFields()
    fields.targets = ["k_proj", "v_proj", "down_proj"]
    return fields
  }
}
