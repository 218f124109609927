public import Memory
public import Model

/// Which existing tensors selective tuning trains.
public enum SelectiveTensors: Sendable, Equatable {
  /// Every RMSNorm weight (LayerNorm tuning).
  case norms
  /// The output head alone (feature extraction); a tied head is untied.
  case head
  /// Every matrix and norm of the last K layers.
  case lastLayers(Int)
}

/// Selective tuning: fp32 copies of chosen existing tensors train, nothing else.
public struct SelectiveMethod: MethodDefinition {
  public var tensors: SelectiveTensors

  public init(tensors: SelectiveTensors) { self.tensors = tensors }

  public var name: String { "selective" }
  public var summary: String {
    switch tensors {
    case .norms: "the norm weights (selective tuning)"
    case .head: "the output head (selective tuning, feature extraction)"
    case .lastLayers(let count): "the weights of the last \(count) layers (selective tuning)"
    }
  }
  /// The head at 1e-3: 33% held-out exact match on the dates task against 6% at 1e-4 (measured, commit d841287).
  public var defaultLearningRate: Double {
    switch tensors {
    case .norms, .head: 1e-3
    case .lastLayers: 1e-4
    }
  }
  public var graphNeeds: GraphNeeds { GraphNeeds() }

  public func trainableShapes(model: ModelConfig) -> [(name: String, shape: [Int])] {
    switch tensors {
    case .norms: SelectiveNorms.tensorShapes(model: model)
    case .head: SelectiveHead.tensorShapes(model: model)
    case .lastLayers(let count): SelectiveLayers.tensorShapes(model: model, count: min(count, model.layerCount))
    }
  }

  public func planLine(model: ModelConfig) -> (label: String, note: String) {
    switch tensors {
    case .norms: ("selective", "fp32 copies of every norm weight")
    case .head: ("selective", "an fp32 copy of the output head (\(model.vocabularySize) × \(model.hiddenSize)), untied")
    case .lastLayers(let count): ("selective", "fp32 copies of the last \(count) layers' matrices and norms")
    }
  }

  public func validate(model: ModelConfig) throws {
    if case .lastLayers(let count) = tensors, count < 1 || count > model.layerCount {
      throw TrainingError.invalidOption(
        name: "tensors", reason: "last-layers:\(count): the model has \(model.layerCount) layers")
    }
  }

  public func make(model: LanguageModel, ledger: MemoryLedger) throws -> any TrainableMethod {
    switch tensors {
    case .norms: try SelectiveNorms(model: model, ledger: ledger)
    case .head: try SelectiveHead(model: model, ledger: ledger)
    case .lastLayers(let count): try SelectiveLayers(model: model, count: count, ledger: ledger)
    }
  }

  public var reportFields: MethodReportFields {
    var fields = MethodReportFields()
    switch tensors {
    case .norms: fields.tensors = "norms"
    case .head: fields.tensors = "head"
    case .lastLayers(let count):
      fields.tensors = "last-layers"
      fields.layers = count
    }
    return fields
  }
}
