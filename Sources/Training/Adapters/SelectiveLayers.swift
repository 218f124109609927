import Formats
import Foundation
public import Memory
public import Model

/// Selective fine-tuning of whole layers: fp32 trainable copies of every projection matrix and both norm weights of
/// the last `count` layers, initialized from the base (NF4 decoded), used in place of the frozen tensors; nothing
/// else trains (q/k/v biases of qwen2-style models stay frozen). Each layer of SmolLM2-135M is 3.5 M numbers, so
/// with gradients and AdamW's two moments a layer costs 57 MB: the plan counts it. Saved as the changed tensors under
/// their Hugging Face names (`model.layers.{i}.self_attn.q_proj.weight`, …, `…post_attention_layernorm.weight`),
/// which `merge` writes into a new model file.
public final class SelectiveLayers: TrainableMethod, MatrixOverrideProvider, NormOverrideProvider {
  static let tensorsValue = "last-layers"
  public let model: ModelConfig
  public let count: Int
  public let parameters: ParameterStore
  public let seed: UInt64 = 0

  /// The first trained layer.
  public var first: Int { model.layerCount - count }

  /// Trainable copies of the last `count` layers of `model`.
  public convenience init(model: LanguageModel, count: Int, ledger: MemoryLedger) throws {
    try self.init(config: model.config, count: count, ledger: ledger)
    let d = model.config.hiddenSize
    for index in first..<model.config.layerCount {
      let layer = model.weights.layers[index]
      for target in ProjectionTarget.allCases {
        let frozen = target.matrix(in: layer)
        let tensor = parameters[Self.matrixName(layer: index, target: target)]!
        frozen.decodeRows(0..<frozen.rows, into: tensor.value.baseAddress!)
      }
      norm(layer: index, position: .attention)!.weight.update(from: layer.attentionNorm, count: d)
      norm(layer: index, position: .mlp)!.weight.update(from: layer.mlpNorm, count: d)
    }
  }

  init(config: ModelConfig, count: Int, ledger: MemoryLedger) throws {
    guard count >= 1, count <= config.layerCount else {
      throw TrainingError.invalidOption(
        name: "tensors", reason: "last-layers:\(count) must name 1 to \(config.layerCount) layers of this model")
    }
    self.model = config
    self.count = count
    self.parameters = try ParameterStore(
      Self.tensorShapes(model: config, count: count), label: "selective", ledger: ledger)
  }

  static func matrixName(layer: Int, target: ProjectionTarget) -> String {
    "model.layers.\(layer).\(target.modulePath).weight"
  }

  static func normName(layer: Int, position: NormPosition) -> String { "model.layers.\(layer).\(position.tensorName)" }

  /// Per trained layer: the seven matrices in canonical order, then the two norms.
  static func tensorShapes(model c: ModelConfig, count: Int) -> [(name: String, shape: [Int])] {
    ((c.layerCount - count)..<c.layerCount).flatMap { layer in
      ProjectionTarget.allCases.map { target -> (name: String, shape: [Int]) in
        let (out, inFeatures) = target.shape(c)
        return (matrixName(layer: layer, target: target), [out, inFeatures])
      } + NormPosition.allCases.map { (normName(layer: layer, position: $0), [c.hiddenSize]) }
    }
  }

  private func tensor(layer: Int, offset: Int) -> ParameterTensor? {
    guard layer >= first, layer < model.layerCount else { return nil }
    return parameters.tensors[(layer - first) * (ProjectionTarget.allCases.count + 2) + offset]
  }

  // MARK: MatrixOverrideProvider, NormOverrideProvider

  public func matrix(layer: Int, target: ProjectionTarget) -> (
    matrix: DenseMatrix, gradient: UnsafeMutablePointer<Float>
  )? {
    guard let tensor = tensor(layer: layer, offset: ProjectionTarget.allCases.firstIndex(of: target)!) else {
      return nil
    }
    return (
      DenseMatrix(values: tensor.value.baseAddress!, rows: tensor.shape[0], cols: tensor.shape[1], name: tensor.name),
      tensor.gradient.baseAddress!
    )
  }

  public func norm(layer: Int, position: NormPosition) -> (
    weight: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>
  )? {
    tensor(layer: layer, offset: ProjectionTarget.allCases.count + position.rawValue).map {
      ($0.value.baseAddress!, $0.gradient.baseAddress!)
    }
  }

  public var finalNorm: (weight: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>)? { nil }

  // MARK: TrainableMethod

  public var methodName: String { "selective" }
  public var lora: (any LoRAProvider)? { nil }
  public var virtualTokens: (any VirtualTokenGradients)? { nil }
  public var norms: (any NormOverrideProvider)? { self }
  public var matrices: (any MatrixOverrideProvider)? { self }

  public func save(to directory: String, baseModel: String? = nil, overwrite: Bool = false) throws {
    try SelectiveFiles.save(
      parameters, to: directory, overwrite: overwrite,
      config: SelectiveAdapterConfig(
        baseModel: baseModel, tensors: Self.tensorsValue, hiddenSize: model.hiddenSize, numLayers: model.layerCount,
        layers: count))
  }

  /// Reads layers saved by `save`, refusing another model's shape and missing or unknown tensors.
  public static func load(from directory: String, model: ModelConfig, ledger: MemoryLedger) throws -> SelectiveLayers {
    let (config, configPath) = try SelectiveFiles.config(in: directory, tensors: tensorsValue)
    guard let layers = config.numLayers, let count = config.layers else {
      throw TrainingError.checkpoint(path: configPath, reason: "num_layers and layers: missing")
    }
    guard layers == model.layerCount else {
      throw TrainingError.checkpoint(
        path: configPath, reason: "made for a model of \(layers) layers, this one has \(model.layerCount)")
    }
    let set = try SelectiveLayers(config: model, count: count, ledger: ledger)
    try SelectiveFiles.readTensors(from: directory, into: set.parameters)
    return set
  }

  public func restoreValues(from directory: String, ledger: MemoryLedger) throws {
    let saved = try SelectiveLayers.load(from: directory, model: model, ledger: ledger)
    guard saved.count == count else {
      throw TrainingError.checkpoint(
        path: directory, reason: "the checkpoint trains \(saved.count) layers, not \(count)")
    }
    parameters.allValues.baseAddress!.update(from: saved.parameters.allValues.baseAddress!, count: parameters.count)
  }
}
