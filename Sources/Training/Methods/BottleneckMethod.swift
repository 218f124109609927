public import Memory
public import Model

/// Bottleneck adapters: small down/up projections after attention and/or the MLP of every layer.
/// ref: Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP"; Pfeiffer et al. 2020 (AdapterFusion).
public struct BottleneckMethod: MethodDefinition {
  public var config: BottleneckConfig

  public init(config: BottleneckConfig) { self.config = config }

  public var name: String { "adapter" }
  public var summary: String {
    "\(config.architecture.rawValue) bottleneck adapters (reduction \(config.reductionFactor), "
      + "\(config.activation.rawValue))"
  }
  public var defaultLearningRate: Double { 1e-3 }

  public var graphNeeds: GraphNeeds {
    var needs = GraphNeeds()
    needs.bottleneck = config
    return needs
  }

  public func trainableShapes(model: ModelConfig) -> [(name: String, shape: [Int])] {
    (try? BottleneckAdapterSet.plannedShapes(config: config, model: model)) ?? []
  }

  public func planLine(model: ModelConfig) -> (label: String, note: String) {
    ("adapter", "\(config.architecture.rawValue) bottleneck adapters, reduction \(config.reductionFactor)")
  }

  public func validate(model: ModelConfig) throws { _ = try config.size(hidden: model.hiddenSize) }

  public func make(model: LanguageModel, ledger: MemoryLedger) throws -> any TrainableMethod {
    try BottleneckAdapterSet(config: config, model: model.config, ledger: ledger)
  }

  public var reportFields: MethodReportFields {
    var fields = MethodReportFields()
    fields.architecture = config.architecture.rawValue
    fields.reductionFactor = config.reductionFactor
    fields.nonLinearity = config.activation.rawValue
    return fields
  }
}
