import Formats
import Foundation
public import Memory
public import Model

/// Selective fine-tuning of the output head alone (feature extraction: everything frozen but the final layer): an
/// fp32 trainable copy of the head (vocabulary × hidden), initialized from the base, used in place of the frozen one.
/// When the base ties its head to the embedding (SmolLM2 does), the copy unties them: the embedding stays frozen and
/// `merge` writes a model with its own lm_head.weight. The copy is big: 49152 × 576 floats are 113 MB, and with
/// gradients and AdamW's moments 453 MB, which the plan counts.
public final class SelectiveHead: TrainableMethod, MatrixOverrideProvider {
  static let tensorsValue = "head"
  static let tensorName = "lm_head.weight"
  public let model: ModelConfig
  public let parameters: ParameterStore
  public let seed: UInt64 = 0

  /// A trainable copy of `model`'s head.
  public convenience init(model: LanguageModel, ledger: MemoryLedger) throws {
    try self.init(config: model.config, ledger: ledger)
    let head = model.weights.head
    head.decodeRows(0..<head.rows, into: parameters.tensors[0].value.baseAddress!)
  }

  init(config: ModelConfig, ledger: MemoryLedger) throws {
    self.model = config
    self.parameters = try ParameterStore(Self.tensorShapes(model: config), label: "selective", ledger: ledger)
  }

  static func tensorShapes(model c: ModelConfig) -> [(name: String, shape: [Int])] {
    [(tensorName, [c.vocabularySize, c.hiddenSize])]
  }

  // MARK: MatrixOverrideProvider

  public func matrix(layer: Int, target: ProjectionTarget) -> (
    matrix: DenseMatrix, gradient: UnsafeMutablePointer<Float>
  )? { nil }

  public var outputHead: (matrix: DenseMatrix, gradient: UnsafeMutablePointer<Float>)? {
    let tensor = parameters.tensors[0]
    return (
      DenseMatrix(values: tensor.value.baseAddress!, rows: tensor.shape[0], cols: tensor.shape[1], name: tensor.name),
      tensor.gradient.baseAddress!
    )
  }

  public var overridesLayers: Bool { false }

  // MARK: TrainableMethod

  public var methodName: String { "selective" }
  public var lora: (any LoRAProvider)? { nil }
  public var virtualTokens: (any VirtualTokenGradients)? { nil }
  public var matrices: (any MatrixOverrideProvider)? { self }

  public func save(to directory: String, baseModel: String? = nil, overwrite: Bool = false) throws {
    try SelectiveFiles.save(
      parameters, to: directory, overwrite: overwrite,
      config: SelectiveAdapterConfig(
        baseModel: baseModel, tensors: Self.tensorsValue, hiddenSize: model.hiddenSize,
        vocabSize: model.vocabularySize))
  }

  /// Reads a head saved by `save`, refusing another model's shape.
  public static func load(from directory: String, model: ModelConfig, ledger: MemoryLedger) throws -> SelectiveHead {
    _ = try SelectiveFiles.config(in: directory, tensors: tensorsValue)
    let set = try SelectiveHead(config: model, ledger: ledger)
    try SelectiveFiles.readTensors(from: directory, into: set.parameters)
    return set
  }

  public func restoreValues(from directory: String, ledger: MemoryLedger) throws {
    let saved = try SelectiveHead.load(from: directory, model: model, ledger: ledger)
    parameters.allValues.baseAddress!.update(from: saved.parameters.allValues.baseAddress!, count: parameters.count)
  }
}
