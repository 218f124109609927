import Formats
import Foundation
import Glibc
public import Memory
public import Model
import Quantization

/// Reading and writing a PEFT adapter directory: `adapter_config.json` + `adapter_model.safetensors`, loadable by
/// `PeftModel.from_pretrained` and written by it.
/// ref: PEFT src/peft/utils/save_and_load.py (get_peft_model_state_dict), src/peft/tuners/lora/config.py.
extension LoRAAdapterSet {
  public static let configFileName = AdapterDirectory.configFileName
  public static let weightsFileName = AdapterDirectory.weightsFileName
  static let seedKey = "edgetune.lora.seed"

  /// Writes the adapter into `directory`, atomically (`AdapterDirectory.save`): an existing `directory` is refused
  /// unless `overwrite` and it holds nothing but adapter files.
  /// - Parameter baseModel: `base_model_name_or_path` (a hub id or a path), or nil.
  public func save(to directory: String, baseModel: String? = nil, overwrite: Bool = false) throws {
    try save(to: directory, baseModel: baseModel, overwrite: overwrite, alsoWrite: nil)
  }

  /// `save`, and `alsoWrite` writes further files into the (temporary) directory before it is renamed into place.
  public func save(
    to directory: String, baseModel: String?, overwrite: Bool, alsoWrite: ((String) throws -> Void)?
  ) throws {
    try AdapterDirectory.save(to: directory, overwrite: overwrite) { temporary in
      try AdapterConfigFile.write(LoRAAdapterConfig(config, heads: heads, baseModel: baseModel), in: temporary)
      try writeWeights(to: temporary + "/" + Self.weightsFileName)
      try alsoWrite?(temporary)
    }
  }

  /// Reads an adapter directory written by PEFT or by `save(to:)` for a model of configuration `model`, or a
  /// llama.cpp LoRA adapter GGUF file (`loadGGUF`).
  ///
  /// DoRA adapters (use_dora) load with their magnitudes; `attach(to:)` must measure the base before a forward.
  /// Refuses, naming the file and the key: a missing file; a config that is not plain LoRA or DoRA (biases,
  /// fan_in_fan_out, per-layer rank or alpha patterns, a regex `target_modules`, modules_to_save); a target this
  /// model does not have; a tensor that is missing, unknown (another layer count, another module) or of the wrong
  /// shape; a file whose checksums (when it has ours) do not match. F16 and BF16 tensors are widened to fp32.
  /// `heads` are the fully trained modules the caller expects (none for generation, the score head for a reward
  /// model); an adapter declaring others is refused, saying what it is.
  public static func load(
    from directory: String, model: ModelConfig, heads expected: LoRAHeads = .none, ledger: MemoryLedger
  ) throws -> LoRAAdapterSet {
    if isGGUFFile(directory) {
      guard expected == .none else {
        throw TrainingError.checkpoint(
          path: directory, reason: "a llama.cpp LoRA adapter has no reward head; give the reward model's directory")
      }
      return try loadGGUF(from: directory, model: model, ledger: ledger)
    }
    let (configPath, weightsPath) = try AdapterDirectory.files(in: directory)
    if let type = AdapterConfigFile.kind(in: directory)?.peftType, type != "LORA" {
      throw TrainingError.checkpoint(
        path: configPath, reason: "peft_type is \(type), not LORA: use it with the option for that method")
    }
    var (config, heads, baseModel) = try parseAdapterConfig(path: configPath, hidden: model.hiddenSize)
    guard heads == expected else {
      throw TrainingError.checkpoint(
        path: configPath,
        reason: heads.modules.isEmpty
          ? "a plain LoRA adapter (task_type \(heads.taskType)), not a reward model: train one with `train reward`"
          : "a reward model (task_type \(heads.taskType), modules_to_save \(heads.modules)): use it with --reward, "
            + "not as a generation adapter")
    }
    let weights = try SafetensorsFile(path: weightsPath)
    if let seed = weights.metadata[seedKey].flatMap(UInt64.init) { config.seed = seed }
    if weights.metadata[SafetensorsWriter.checksumKey] != nil { try AdamW.verifyChecksums(weights) }

    let set = try LoRAAdapterSet(config: config, model: model, heads: heads, ledger: ledger, initialize: false)
    set.baseModelName = baseModel
    set.metadata = weights.metadata.filter { $0.key.hasPrefix("edgetune.") && $0.key != seedKey }
    func fail(_ reason: String) -> TrainingError { .checkpoint(path: weightsPath, reason: reason) }
    for entry in weights.entries {
      guard let tensor = set.parameters[entry.name] else {
        throw fail("unknown tensor '\(entry.name)': " + set.explainUnknown(entry.name))
      }
      guard entry.shape == tensor.shape else {
        throw fail(
          "tensor '\(entry.name)' has shape \(entry.shape), this model and rank \(config.rank) need \(tensor.shape)")
      }
      guard let type = entry.type.decodable, [.f32, .f16, .bf16].contains(type) else {
        throw fail("tensor '\(entry.name)' is \(entry.dtype); only F32, F16 and BF16 adapters can be read")
      }
      let view = try weights.tensor(entry.name)
      ggmlDecode(type, from: view.data, to: tensor.value.baseAddress!, count: tensor.count)
    }
    for tensor in set.parameters.tensors where weights.entry(tensor.name) == nil {
      if tensor.name.hasSuffix(".lora_magnitude_vector") {
        throw fail(
          "tensor '\(tensor.name)' is missing: adapter_config.json sets use_dora, which needs DoRA's magnitudes")
      }
      throw fail(
        "tensor '\(tensor.name)' is missing (\(config.targets.map(\.moduleName)) on \(model.layerCount) layers)")
    }
    return set
  }

  /// The LoRA configuration (rank, alpha, targets) of an adapter directory, read without its weights (for plans).
  public static func config(in directory: String) throws -> LoRAConfig {
    if isGGUFFile(directory) {
      throw TrainingError.checkpoint(
        path: directory, reason: "a llama.cpp LoRA adapter cannot be a reward model; give the reward model's directory")
    }
    return try parseAdapterConfig(path: try AdapterDirectory.files(in: directory).config, hidden: 1).0
  }

  // MARK: writing

  /// adapter_model.safetensors: every A and B as F32, in layer order, with `format: pt` (what safetensors' torch
  /// helpers write) and the seed in the metadata.
  func writeWeights(to path: String) throws {
    let saved = heads.inAdapterFile ? parameters.tensors : Array(parameters.tensors.dropLast(heads.tensors.count))
    let plans = saved.map {
      SafetensorsWriter.Plan(name: $0.name, dtype: "F32", shape: $0.shape, byteCount: $0.count * 4)
    }
    let writer = try SafetensorsWriter(
      path: path, plans: plans,
      metadata: [("format", "pt"), (Self.seedKey, String(config.seed))]
        + metadata.sorted { $0.key < $1.key }.filter { $0.key.hasPrefix("edgetune.") }.map { ($0.key, $0.value) })
    for tensor in saved { try writer.write(UnsafeRawBufferPointer(tensor.value)) }
    try writer.finish()
  }

  // MARK: reading

  /// The LoRA configuration, heads and base_model_name_or_path of adapter_config.json at `path`, refusing by key what EdgeTune does not
  /// implement.
  static func parseAdapterConfig(path: String, hidden: Int) throws -> (LoRAConfig, LoRAHeads, baseModel: String?) {
    func fail(_ key: String, _ reason: String) -> TrainingError {
      .checkpoint(path: path, reason: "\(key): \(reason)")
    }
    let json = try TrainingJSON.read(LoRAAdapterConfig.self, path: path)
    guard json.peftType == "LORA" else { throw fail("peft_type", "'\(json.peftType ?? "missing")' is not LORA") }
    if json.fanInFanOut { throw fail("fan_in_fan_out", "transposed (Conv1D) weights are not supported") }
    guard json.bias == "none" else {
      throw fail("bias", "'\(json.bias)' adapters train biases; only 'none' is supported")
    }
    let subsets = [
      ("layers_to_transform", json.layersToTransform), ("layers_pattern", json.layersPattern),
      ("layer_replication", json.layerReplication),
    ]
    for (key, value) in subsets where value != nil {
      throw fail(key, "adapters on a subset of layers are not supported")
    }
    for (key, pattern) in [("rank_pattern", json.rankPattern), ("alpha_pattern", json.alphaPattern)] {
      if case .object(let members) = pattern, !members.isEmpty {
        throw fail(key, "per-module ranks or alphas are not supported")
      }
    }
    let modules = json.modulesToSave ?? []
    guard let heads = LoRAHeads.declared(taskType: json.taskType, modules: modules, hidden: hidden) else {
      throw fail(
        "modules_to_save",
        "fully trained modules \(modules) (task_type \(json.taskType ?? "none")) are not supported; only a reward "
          + "model's \"score\" head (task_type SEQ_CLS) is")
    }
    switch json.targetModules {
    case .pattern:
      throw fail("target_modules", "a regular expression or 'all-linear' is not supported; list module names")
    case nil: throw fail("target_modules", "missing or not a list of module names")
    case .names: break
    }
    // Names may be qualified ("self_attn.q_proj"); the last component is the module.
    let targets = try LoRAConfig.targets(named: json.targetModules?.moduleNames ?? [])
    do {
      let config = try LoRAConfig(
        rank: json.rank, alpha: json.alpha, dropout: json.dropout, targets: targets, useRSLoRA: json.useRSLoRA,
        useDoRA: json.useDoRA)
      return (config, heads, json.baseModel)
    } catch {
      throw TrainingError.checkpoint(path: path, reason: error.description)
    }
  }

  /// Why a tensor name is not one of this set's.
  func explainUnknown(_ name: String) -> String {
    let prefix = "base_model.model.model.layers."
    if name.hasPrefix(prefix), let layer = Int(name.dropFirst(prefix.count).prefix(while: \.isNumber)),
      layer >= model.layerCount
    {
      return "layer \(layer), but the model has \(model.layerCount) layers (an adapter for another model?)"
    }
    if name.hasSuffix(".lora_magnitude_vector") && !config.useDoRA {
      return "a DoRA magnitude, but adapter_config.json does not set use_dora"
    }
    return "not lora_A/lora_B of a targeted module (\(config.targets.map(\.moduleName).joined(separator: ", ")))"
  }
}
