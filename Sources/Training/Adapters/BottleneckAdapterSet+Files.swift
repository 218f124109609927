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
      try AdapterDirectory.writeFiles(
        in: temporary, config: configFields(baseModel: baseModel), parameters: parameters,
        metadata: [("format", "pt"), (Self.seedKey, String(config.seed))])
    }
  }

  func configFields(baseModel: String?) -> [(String, String)] {
    let placements = config.architecture.placements
    let activation = config.activation == .silu ? "swish" : "relu"
    return [
      ("architecture", "\"\(config.architecture.rawValue)\""),
      ("base_model_name_or_path", baseModel.map(PEFTJSON.quoted) ?? "null"), ("bottleneck_size", String(size)),
      ("hidden_size", String(model.hiddenSize)), ("init_weights", "\"mam_adapter\""),
      ("mh_adapter", placements.contains(.attention) ? "true" : "false"), ("non_linearity", "\"\(activation)\""),
      ("num_layers", String(model.layerCount)),
      ("output_adapter", placements.contains(.mlp) ? "true" : "false"), ("peft_type", "\"\(Self.peftType)\""),
      ("reduction_factor", String(config.reductionFactor)), ("residual_before_ln", "true"),
    ]
  }

  /// Reads a directory written by `save`, refusing another type, another model's hidden size or layer count, and any
  /// missing, unknown or misshapen tensor, naming the file and key.
  public static func load(from directory: String, model: ModelConfig, ledger: MemoryLedger) throws
    -> BottleneckAdapterSet
  {
    let (configPath, weightsPath) = try AdapterDirectory.files(in: directory)
    func fail(_ path: String, _ reason: String) -> TrainingError { .checkpoint(path: path, reason: reason) }
    let json = try AdapterDirectory.readConfig(configPath)
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
    let seed = weights.metadata[seedKey].flatMap(UInt64.init) ?? 0
    let set = try BottleneckAdapterSet(
      config: BottleneckConfig(
        architecture: architecture, reductionFactor: factor, activation: activation, seed: seed),
      model: model, ledger: ledger, initialize: false)
    try AdapterDirectory.readTensors(into: set.parameters, from: weights)
    return set
  }
}
