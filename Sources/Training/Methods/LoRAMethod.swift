public import Memory
public import Model

/// LoRA: low-rank updates B·A on chosen projections, trained on next-token loss.
/// ref: Hu et al. 2021, "LoRA"; Dettmers et al. 2023, "QLoRA" (the same on an NF4 base).
public struct LoRAMethod: MethodDefinition {
  public var config: LoRAConfig

  public init(config: LoRAConfig) { self.config = config }

  public var name: String { "lora" }
  public var summary: String {
    "LoRA r=\(config.rank) alpha=\(config.alpha) on \(config.targets.map(\.moduleName).joined(separator: ","))"
  }
  public var defaultLearningRate: Double { 2e-4 }

  public var graphNeeds: GraphNeeds {
    var needs = GraphNeeds()
    needs.rank = config.rank
    needs.dropout = config.dropout > 0
    return needs
  }

  /// The same with rows that hold a preference pair (reward models, DPO).
  var pairRowNeeds: GraphNeeds {
    var needs = graphNeeds
    needs.pairRows = true
    return needs
  }

  public func trainableShapes(model: ModelConfig) -> [(name: String, shape: [Int])] {
    LoRAAdapterSet.tensorShapes(rank: config.rank, targets: config.targets, model: model)
  }

  public func planLine(model: ModelConfig) -> (label: String, note: String) {
    ("lora", "A and B, r=\(config.rank) on \(config.targets.map(\.moduleName).joined(separator: ","))")
  }

  public func make(model: LanguageModel, ledger: MemoryLedger) throws -> any TrainableMethod {
    try LoRAAdapterSet(config: config, model: model.config, ledger: ledger)
  }

  public var reportFields: MethodReportFields {
    var fields = MethodReportFields()
    fields.rank = config.rank
    fields.alpha = config.alpha
    fields.targets = config.targets.map(\.moduleName)
    return fields
  }

}
