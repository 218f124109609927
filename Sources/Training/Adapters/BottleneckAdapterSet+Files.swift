import Formats
import Foundation
public import Memory
public import Model
import Quantization
import Tensor

/// Bottleneck adapters on disk: `adapter_config.json` with AdapterHub's BnConfig fields (`mh_adapter` for the adapter
/// after attention, `output_adapter` for the one after the MLP, `reduction_factor`, `non_linearity`) plus
/// `peft_type: "BOTTLENECK"` so EdgeTune's loaders tell it apart (PEFT has no such type and will refuse it), and
/// `adapter_model.safetensors` with every tensor F32 under AdapterHub-style names.
extension BottleneckAdapterSet {
  static let peftType = "BOTTLENECK"
  static let seedKey = "edgetune.adapter.seed"

  public func save(to directory: String, baseModel: String? = nil, overwrite: Bool = false) throws {
    try AdapterDirectory.save(to: directory, overwrite: overwrite) { temporary in
      let json = try AtomicFileWriter(path: temporary + "/" + AdapterDirectory.configFileName)
      try json.write(Array(configJSON(baseModel: baseModel).utf8))
      try json.finish()
      let plans = parameters.tensors.map {
        SafetensorsWriter.Plan(name: $0.name, dtype: "F32", shape: $0.shape, byteCount: $0.count * 4)
      }
      let writer = try SafetensorsWriter(
        path: temporary + "/" + AdapterDirectory.weightsFileName, plans: plans,
        metadata: [("format", "pt"), (Self.seedKey, String(config.seed))])
      for tensor in parameters.tensors { try writer.write(UnsafeRawBufferPointer(tensor.value)) }
      try writer.finish()
    }
  }

  func configJSON(baseModel: String?) -> String {
    let placements = config.architecture.placements
    let activation = config.activation == .silu ? "swish" : "relu"
    let fields: [(String, String)] = [
      ("architecture", "\"\(config.architecture.rawValue)\""),
      ("base_model_name_or_path", baseModel.map(PEFTJSON.quoted) ?? "null"), ("bottleneck_size", String(size)),
      ("hidden_size", String(model.hiddenSize)), ("init_weights", "\"mam_adapter\""),
      ("mh_adapter", placements.contains(.attention) ? "true" : "false"), ("non_linearity", "\"\(activation)\""),
      ("num_layers", String(model.layerCount)),
      ("output_adapter", placements.contains(.mlp) ? "true" : "false"), ("peft_type", "\"\(Self.peftType)\""),
      ("reduction_factor", String(config.reductionFactor)), ("residual_before_ln", "true"),
    ]
    return "{\n" + fields.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}\n"
  }

  /// Reads a directory written by `save`, refusing another type, another model's hidden size or layer count, and any
  /// missing, unknown or misshapen tensor, naming the file and key.
  public static func load(from directory: String, model: ModelConfig, ledger: MemoryLedger) throws
    -> BottleneckAdapterSet
  {
    let (configPath, weightsPath) = try AdapterDirectory.files(in: directory)
    func fail(_ path: String, _ reason: String) -> TrainingError { .checkpoint(path: path, reason: reason) }
    let text: String
    do { text = try String(contentsOfFile: configPath, encoding: .utf8) } catch {
      throw fail(configPath, "cannot read: \(error.localizedDescription)")
    }
    let json = try JSONObject(text: text, path: configPath)
    guard try json.optionalString("peft_type") == peftType else {
      throw fail(configPath, "not a bottleneck adapter (peft_type is not \(peftType))")
    }
    guard let architecture = BottleneckConfig.Architecture(rawValue: try json.optionalString("architecture") ?? "")
    else { throw fail(configPath, "architecture must be houlsby or pfeiffer") }
    let factor = try json.int("reduction_factor")
    let activation: BottleneckActivation = try json.optionalString("non_linearity") == "swish" ? .silu : .relu
    if let hidden = try json.optionalInt("hidden_size"), hidden != model.hiddenSize {
      throw fail(configPath, "hidden_size \(hidden) is not this model's \(model.hiddenSize)")
    }
    if let layers = try json.optionalInt("num_layers"), layers != model.layerCount {
      throw fail(configPath, "num_layers \(layers) is not this model's \(model.layerCount)")
    }
    let weights = try SafetensorsFile(path: weightsPath)
    if weights.metadata[SafetensorsWriter.checksumKey] != nil { try AdamW.verifyChecksums(weights) }
    let seed = weights.metadata[seedKey].flatMap(UInt64.init) ?? 0
    let set = try BottleneckAdapterSet(
      config: BottleneckConfig(
        architecture: architecture, reductionFactor: factor, activation: activation, seed: seed),
      model: model, ledger: ledger, initialize: false)
    for entry in weights.entries {
      guard let tensor = set.parameters[entry.name] else {
        throw fail(weightsPath, "unknown tensor '\(entry.name)' for a \(architecture.rawValue) adapter")
      }
      guard entry.shape == tensor.shape, entry.dtype == "F32" else {
        throw fail(weightsPath, "'\(entry.name)' is \(entry.dtype) \(entry.shape), expected F32 \(tensor.shape)")
      }
      let view = try weights.tensor(entry.name)
      UnsafeMutableRawBufferPointer(tensor.value).copyMemory(from: view.bytes)
    }
    for tensor in set.parameters.tensors where weights.entry(tensor.name) == nil {
      throw fail(weightsPath, "tensor '\(tensor.name)' is missing")
    }
    return set
  }
}
