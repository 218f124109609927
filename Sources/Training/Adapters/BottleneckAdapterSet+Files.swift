import Formats
import Foundation
public import Memory
public import Model
import Quantization
import Tensor

/// Bottleneck adapters on disk: `adapter_config.json` (`BottleneckAdapterConfig`: AdapterHub's BnConfig fields and
/// `peft_type: "BOTTLENECK"`) and `adapter_model.safetensors` with every tensor F32 under AdapterHub-style names.
extension BottleneckAdapterSet {
  static let peftType = "BOTTLENECK"
  static let seedKey = "edgetune.adapter.seed"

  public func save(to directory: String, baseModel: String? = nil, overwrite: Bool = false) throws {
    try AdapterDirectory.save(to: directory, overwrite: overwrite) { temporary in
      try AdapterDirectory.writeFiles(
        in: temporary, config: BottleneckAdapterConfig(self, baseModel: baseModel), parameters: parameters,
        metadata: [("format", "pt"), (Self.seedKey, String(config.seed))])
    }
  }

  /// Reads a directory written by `save`, refusing another type, another model's hidden size or layer count, and any
  /// missing, unknown or misshapen tensor, naming the file and key.
  public static func load(from directory: String, model: ModelConfig, ledger: MemoryLedger) throws
    -> BottleneckAdapterSet
  {
    let (configPath, weightsPath) = try AdapterDirectory.files(in: directory)
    func fail(_ path: String, _ reason: String) -> TrainingError { .checkpoint(path: path, reason: reason) }
    let json = try TrainingJSON.read(BottleneckAdapterConfig.self, path: configPath)
    guard json.peftType == peftType else {
      throw fail(configPath, "not a bottleneck adapter (peft_type is not \(peftType))")
    }
    guard let architecture = BottleneckConfig.Architecture(rawValue: json.architecture ?? "") else {
      throw fail(configPath, "architecture must be houlsby or pfeiffer")
    }
    let factor = json.reductionFactor
    let activation: BottleneckActivation = json.nonLinearity == "swish" ? .silu : .relu
    if let hidden = json.hiddenSize, hidden != model.hiddenSize {
      throw fail(configPath, "hidden_size \(hidden) is not this model's \(model.hiddenSize)")
    }
    if let layers = json.numLayers, layers != model.layerCount {
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
