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
  static let peftType = "SELECTIVE"
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
    try AdapterDirectory.save(to: directory, overwrite: overwrite) { temporary in
      let json = try AtomicFileWriter(path: temporary + "/" + AdapterDirectory.configFileName)
      let fields: [(String, String)] = [
        ("base_model_name_or_path", baseModel.map(PEFTJSON.quoted) ?? "null"), ("num_layers", String(model.layerCount)),
        ("hidden_size", String(model.hiddenSize)), ("peft_type", "\"\(Self.peftType)\""), ("tensors", "\"norms\""),
      ]
      try json.write(Array(("{\n" + fields.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}\n").utf8))
      try json.finish()
      let plans = parameters.tensors.map {
        SafetensorsWriter.Plan(name: $0.name, dtype: "F32", shape: $0.shape, byteCount: $0.count * 4)
      }
      let writer = try SafetensorsWriter(
        path: temporary + "/" + AdapterDirectory.weightsFileName, plans: plans, metadata: [("format", "pt")])
      for tensor in parameters.tensors { try writer.write(UnsafeRawBufferPointer(tensor.value)) }
      try writer.finish()
    }
  }

  /// Reads changed norm weights saved by `save`, refusing another model's shape and missing or unknown tensors.
  public static func load(from directory: String, model: ModelConfig, ledger: MemoryLedger) throws -> SelectiveNorms {
    let (configPath, weightsPath) = try AdapterDirectory.files(in: directory)
    func fail(_ path: String, _ reason: String) -> TrainingError { .checkpoint(path: path, reason: reason) }
    let text: String
    do { text = try String(contentsOfFile: configPath, encoding: .utf8) } catch {
      throw fail(configPath, "cannot read: \(error.localizedDescription)")
    }
    let json = try JSONObject(text: text, path: configPath)
    guard try json.optionalString("peft_type") == peftType, try json.optionalString("tensors") == "norms" else {
      throw fail(configPath, "not a selective (norms) result")
    }
    let set = try SelectiveNorms(config: model, ledger: ledger)
    let weights = try SafetensorsFile(path: weightsPath)
    if weights.metadata[SafetensorsWriter.checksumKey] != nil { try AdamW.verifyChecksums(weights) }
    for tensor in set.parameters.tensors {
      guard let entry = weights.entry(tensor.name) else {
        throw fail(weightsPath, "tensor '\(tensor.name)' is missing")
      }
      guard entry.shape == tensor.shape, entry.dtype == "F32" else {
        throw fail(weightsPath, "'\(entry.name)' is \(entry.dtype) \(entry.shape), expected F32 \(tensor.shape)")
      }
      UnsafeMutableRawBufferPointer(tensor.value).copyMemory(from: try weights.tensor(tensor.name).bytes)
    }
    if let other = weights.entries.first(where: { set.parameters[$0.name] == nil }) {
      throw fail(weightsPath, "unexpected tensor '\(other.name)'")
    }
    return set
  }

  public func restoreValues(from directory: String, ledger: MemoryLedger) throws {
    let saved = try SelectiveNorms.load(from: directory, model: model, ledger: ledger)
    parameters.allValues.baseAddress!.update(from: saved.parameters.allValues.baseAddress!, count: parameters.count)
  }
}
