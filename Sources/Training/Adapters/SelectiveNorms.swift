import Formats
import Foundation
public import Memory
public import Model

/// Selective fine-tuning of the norm weights (LayerNorm tuning): fp32 trainable copies of every layer's
/// input_layernorm and post_attention_layernorm weights and of the final norm, initialized from the base model, used
/// instead of the frozen vectors; nothing else trains. Saved as the changed tensors only, under their Hugging Face
/// names (`model.layers.{i}.input_layernorm.weight`, …, `model.norm.weight`), which `merge` writes into a new model
/// file. ref: Zhao et al. 2023, "Tuning LayerNorm in Attention: Towards Efficient Multi-Modal LLM Finetuning".
public final class SelectiveNorms: TrainableMethod, NormOverrideProvider {
  static let peftType = SelectiveFiles.peftType
  public let model: ModelConfig
  public let parameters: ParameterStore
  public let seed: UInt64 = 0

  /// Trainable copies of `model`'s norm weights.
  public convenience init(model: LanguageModel, ledger: MemoryLedger) throws {
    try self.init(config: model.config, ledger: ledger)
    let d = model.config.hiddenSize
    for (index, layer) in model.weights.layers.enumerated() {
      for (position, values) in [(NormPosition.attention, layer.attentionNorm), (.mlp, layer.mlpNorm)] {
        norm(layer: index, position: position)!.weight.update(from: values, count: d)
      }
    }
    finalNorm!.weight.update(from: model.weights.finalNorm, count: d)
  }

  init(config: ModelConfig, ledger: MemoryLedger) throws {
    self.model = config
    self.parameters = try ParameterStore(Self.tensorShapes(model: config), label: "selective", ledger: ledger)
  }

  static func tensorShapes(model c: ModelConfig) -> [(name: String, shape: [Int])] {
    (0..<c.layerCount).flatMap { layer in
      NormPosition.allCases.map { ("model.layers.\(layer).\($0.tensorName)", [c.hiddenSize]) }
    } + [("model.norm.weight", [c.hiddenSize])]
  }

  // MARK: NormOverrideProvider

  public func norm(layer: Int, position: NormPosition) -> (
    weight: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>
  )? {
    guard layer >= 0, layer < model.layerCount else { return nil }
    let tensor = parameters.tensors[layer * 2 + position.rawValue]
    return (tensor.value.baseAddress!, tensor.gradient.baseAddress!)
  }

  public var finalNorm: (weight: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>)? {
    let tensor = parameters.tensors[model.layerCount * 2]
    return (tensor.value.baseAddress!, tensor.gradient.baseAddress!)
  }

  // MARK: TrainableMethod

  public var methodName: String { "selective" }
  public var lora: (any LoRAProvider)? { nil }
  public var virtualTokens: (any VirtualTokenGradients)? { nil }
  public var norms: (any NormOverrideProvider)? { self }

  public func save(to directory: String, baseModel: String? = nil, overwrite: Bool = false) throws {
    try SelectiveFiles.save(
      parameters, to: directory, overwrite: overwrite,
      config: SelectiveAdapterConfig(
        baseModel: baseModel, tensors: "norms", hiddenSize: model.hiddenSize, numLayers: model.layerCount))
  }

  /// Reads changed norm weights saved by `save`, refusing another model's shape and missing or unknown tensors.
  public static func load(from directory: String, model: ModelConfig, ledger: MemoryLedger) throws -> SelectiveNorms {
    _ = try SelectiveFiles.config(in: directory, tensors: "norms")
    let set = try SelectiveNorms(config: model, ledger: ledger)
    try SelectiveFiles.readTensors(from: directory, into: set.parameters)
    return set
  }

  public func restoreValues(from directory: String, ledger: MemoryLedger) throws {
    let saved = try SelectiveNorms.load(from: directory, model: model, ledger: ledger)
    parameters.allValues.baseAddress!.update(from: saved.parameters.allValues.baseAddress!, count: parameters.count)
  }
}
