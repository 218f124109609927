public import Memory
public import Model

/// LoRA: low-rank updates B·A on chosen projections, trained on next-token loss.
/// ref: Hu et al. 2021, "LoRA"; Dettmers et al. 2023, "QLoRA" (the same on an NF4 base).
public struct LoRAMethod: MethodDefinition {
  public var config: LoRAConfig

  public init(config: LoRAConfig) { self.config = config }

  public var name: String { "lora" }
  public var summary: String {
    (config.useDoRA ? "DoRA" : "LoRA")
      + " r=\(config.rank) alpha=\(config.alpha) on \(config.targets.map(\.moduleName).joined(separator: ","))"
  }
  public var defaultLearningRate: Double { 2e-4 }

  public var graphNeeds: GraphNeeds {
    var needs = GraphNeeds()
    needs.rank = config.rank
    needs.dropout = config.dropout > 0
    needs.dora = config.useDoRA
    return needs
  }

  /// The same with rows that hold a preference pair (reward models, DPO).
  var pairRowNeeds: GraphNeeds {
    var needs = graphNeeds
    needs.pairRows = true
    return needs
  }

  public func trainableShapes(model: ModelConfig) -> [(name: String, shape: [Int])] {
    LoRAAdapterSet.tensorShapes(rank: config.rank, targets: config.targets, useDoRA: config.useDoRA, model: model)
  }

  public func planLine(model: ModelConfig) -> (label: String, note: String) {
    (
      "lora",
      (config.useDoRA ? "A, B and DoRA's magnitudes" : "A and B") + ", r=\(config.rank) on "
        + config.targets.map(\.moduleName).joined(separator: ",")
    )
  }

  public func extraPlanLines(model: LanguageModel, seqLen: Int, workers: Int) -> [MemoryPlan.Line] {
    guard config.useDoRA else { return [] }
    let rows = config.targets.reduce(0) { $0 + $1.shape(model.config).out } * model.config.layerCount
    return [
      MemoryPlan.Line(
        LoRAAdapterSet.baseNormsLabel, rows * MemoryLayout<Float>.stride, .ledger,
        "DoRA: the frozen weights' row norms, fp32")
    ]
  }

  public func make(model: LanguageModel, ledger: MemoryLedger) throws -> any TrainableMethod {
    let set = try LoRAAdapterSet(config: config, model: model.config, ledger: ledger)
    try set.attach(to: model, initializeMagnitudes: true, ledger: ledger)
    return set
  }

  public var reportFields: MethodReportFields {
    var fields = MethodReportFields()
    fields.rank = config.rank
    fields.alpha = config.alpha
    fields.targets = config.targets.map(\.moduleName)
    fields.useDoRA = config.useDoRA ? true : nil
    return fields
  }

}
