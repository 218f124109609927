import Formats
import Foundation
import Memory
import Model
import Testing

@testable import Training

@Suite struct AdapterPEFTTests {
  static func trainedSet(_ model: ModelConfig, config: LoRAConfig? = nil) throws -> LoRAAdapterSet {
    let config = try config ?? LoRAConfig(rank: 4, alpha: 8, dropout: 0.05, targets: [.q, .k, .v, .o, .down], seed: 9)
    let set = try LoRAAdapterSet(config: config, model: model, ledger: MemoryLedger())
    // As after training: B no longer zero.
    for tensor in set.parameters.tensors where tensor.name.contains("lora_B") {
      AdapterTestSupport.fill(tensor.value, seed: UInt64(tensor.offset))
    }
    return set
  }

  @Test func saveThenLoadIsIdentical() throws {
    let root = try AdapterTestSupport.scratchDirectory("peft")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    let set = try Self.trainedSet(
      model,
      config: LoRAConfig(rank: 4, alpha: 8, dropout: 0.05, targets: [.q, .k, .v, .o, .down], useRSLoRA: true, seed: 9))
    try set.save(to: root + "/adapter", baseModel: "HuggingFaceTB/SmolLM2-135M-Instruct")
    #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["adapter"])  // no .partial left
    let loaded = try LoRAAdapterSet.load(from: root + "/adapter/", model: model, ledger: MemoryLedger())
    #expect(loaded.config == set.config)
    #expect(loaded.parameters.tensors.map(\.name) == set.parameters.tensors.map(\.name))
    #expect(Array(loaded.parameters.allValues) == Array(set.parameters.allValues))
  }

  @Test func adapterConfigHasPEFTFields() throws {
    let root = try AdapterTestSupport.scratchDirectory("peft-config")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let set = try Self.trainedSet(try AdapterTestSupport.tinyConfig())
    try set.save(to: root + "/a", baseModel: "HuggingFaceTB/SmolLM2-135M-Instruct")
    let path = root + "/a/adapter_config.json"
    let json = try TrainingJSON.read(LoRAAdapterConfig.self, path: path)
    #expect(json.peftType == "LORA" && json.taskType == "CAUSAL_LM")
    #expect(json.rank == 4 && json.alpha == 8 && json.dropout == 0.05)
    #expect(json.targetModules == .names(["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"]))
    #expect(!json.useRSLoRA && !json.useDoRA && !json.fanInFanOut && json.bias == "none")
    #expect(json.baseModel == "HuggingFaceTB/SmolLM2-135M-Instruct")
    #expect(json.modulesToSave == nil && json.layersToTransform == nil && json.layersPattern == nil)
    // Every field PEFT 0.10–0.13 writes (null ones too), sorted as json.dumps(indent=2, sort_keys=True) sorts them.
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let keys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { String($0.split(separator: "\"")[1]) }
    #expect(
      keys == [
        "alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode",
        "init_lora_weights", "layer_replication", "layers_pattern", "layers_to_transform", "loftq_config",
        "lora_alpha", "lora_dropout", "megatron_config", "megatron_core", "modules_to_save", "peft_type", "r",
        "rank_pattern", "revision", "target_modules", "task_type", "use_dora", "use_rslora",
      ])
    #expect(text.contains("\"revision\" : null") && text.contains("\"init_lora_weights\" : true"))

    let weights = try SafetensorsFileProbe(path: root + "/a/adapter_model.safetensors")
    #expect(weights.names == set.parameters.tensors.map(\.name))
    #expect(Set(weights.dtypes.values) == ["F32"])
    #expect(weights.metadata["format"] == "pt")
    #expect(weights.shapes["base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"] == [32, 4])
  }

  @Test func existingDirectoriesAreReplacedOnlyWhenAsked() throws {
    let root = try AdapterTestSupport.scratchDirectory("peft-overwrite")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    let first = try Self.trainedSet(model)
    try first.save(to: root + "/a")
    let second = try Self.trainedSet(model, config: LoRAConfig(rank: 2, alpha: 4, targets: [.v]))
    let refused = #expect(throws: TrainingError.self) { try second.save(to: root + "/a") }
    #expect(refused?.description.contains("already exists") == true)
    try second.save(to: root + "/a", overwrite: true)
    let loaded = try LoRAAdapterSet.load(from: root + "/a", model: model, ledger: MemoryLedger())
    #expect(loaded.config.rank == 2)
    #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["a"])

    // A directory holding something else is never replaced.
    try FileManager.default.createDirectory(atPath: root + "/b", withIntermediateDirectories: false)
    _ = FileManager.default.createFile(atPath: root + "/b/notes.txt", contents: Data("keep".utf8))
    let foreign = #expect(throws: TrainingError.self) { try second.save(to: root + "/b", overwrite: true) }
    #expect(foreign?.description.contains("notes.txt") == true)
    #expect(FileManager.default.fileExists(atPath: root + "/b/notes.txt"))
  }

  @Test func missingFilesAreNamed() throws {
    let root = try AdapterTestSupport.scratchDirectory("peft-missing")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    try Self.trainedSet(model).save(to: root + "/a")
    try FileManager.default.removeItem(atPath: root + "/a/adapter_model.safetensors")
    let noWeights = #expect(throws: TrainingError.self) {
      try LoRAAdapterSet.load(from: root + "/a", model: model, ledger: MemoryLedger())
    }
    #expect(noWeights?.description.contains("adapter_model.safetensors") == true)
    let noDirectory = #expect(throws: TrainingError.self) {
      try LoRAAdapterSet.load(from: root + "/nothing", model: model, ledger: MemoryLedger())
    }
    #expect(noDirectory?.description.contains("adapter_config.json") == true)
  }

  @Test func adaptersForAnotherModelAreRefused() throws {
    let root = try AdapterTestSupport.scratchDirectory("peft-model")
    defer { try? FileManager.default.removeItem(atPath: root) }
    try Self.trainedSet(try AdapterTestSupport.tinyConfig(layers: 3)).save(to: root + "/a")
    let fewerLayers = #expect(throws: TrainingError.self) {
      try LoRAAdapterSet.load(
        from: root + "/a", model: try AdapterTestSupport.tinyConfig(layers: 2), ledger: MemoryLedger())
    }
    #expect(fewerLayers?.description.contains("layer 2, but the model has 2 layers") == true)
    let moreLayers = #expect(throws: TrainingError.self) {
      try LoRAAdapterSet.load(
        from: root + "/a", model: try AdapterTestSupport.tinyConfig(layers: 4), ledger: MemoryLedger())
    }
    #expect(moreLayers?.description.contains("layers.3") == true && moreLayers?.description.contains("missing") == true)
    let wider = #expect(throws: TrainingError.self) {
      try LoRAAdapterSet.load(
        from: root + "/a", model: try AdapterTestSupport.tinyConfig(layers: 3, hidden: 128), ledger: MemoryLedger())
    }
    #expect(wider?.description.contains("has shape") == true)
  }

  @Test func unknownTensorsAndDamagedDataAreRefused() throws {
    let root = try AdapterTestSupport.scratchDirectory("peft-damaged")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    let set = try Self.trainedSet(model)
    try set.save(to: root + "/a")

    // An extra tensor PEFT would not have written for this config (an adapter on gate_proj).
    let extra = "base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight"
    let plans =
      set.parameters.tensors.map {
        SafetensorsWriter.Plan(name: $0.name, dtype: "F32", shape: $0.shape, byteCount: $0.count * 4)
      } + [SafetensorsWriter.Plan(name: extra, dtype: "F32", shape: [1], byteCount: 4)]
    let writer = try SafetensorsWriter(path: root + "/a/adapter_model.safetensors", plans: plans, metadata: [])
    for tensor in set.parameters.tensors { try writer.write(UnsafeRawBufferPointer(tensor.value)) }
    try writer.write([0, 0, 0, 0])
    try writer.finish()
    let unknown = #expect(throws: TrainingError.self) {
      try LoRAAdapterSet.load(from: root + "/a", model: model, ledger: MemoryLedger())
    }
    #expect(unknown?.description.contains(extra) == true)

    // A flipped data byte: caught by the checksum.
    try set.save(to: root + "/a", overwrite: true)
    try AdapterTestSupport.flipByte(root + "/a/adapter_model.safetensors", fromEnd: 3)
    let damaged = #expect(throws: TrainingError.self) {
      try LoRAAdapterSet.load(from: root + "/a", model: model, ledger: MemoryLedger())
    }
    #expect(damaged?.description.contains("checksum") == true)

    // A truncated file.
    try set.save(to: root + "/a", overwrite: true)
    let path = root + "/a/adapter_model.safetensors"
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: path))
    #expect(throws: (any Error).self) {
      try LoRAAdapterSet.load(from: root + "/a", model: model, ledger: MemoryLedger())
    }
  }

  @Test(arguments: [
    ("\"peft_type\" : \"LORA\"", "\"peft_type\" : \"IA3\"", "peft_type"),
    ("\"bias\" : \"none\"", "\"bias\" : \"all\"", "bias"),
    ("\"layers_to_transform\" : null", "\"layers_to_transform\" : [0]", "layers_to_transform"),
    ("\"modules_to_save\" : null", "\"modules_to_save\" : [\"lm_head\"]", "modules_to_save"),
    ("\"r\" : 4", "\"r\" : \"four\"", "r"),
    ("\"rank_pattern\" : {\n\n  }", "\"rank_pattern\" : {\"q_proj\": 2}", "rank_pattern"),
    ("\"lora_alpha\" : 8", "\"lora_alpha\" : null", "lora_alpha"),
  ])
  func unsupportedConfigsAreRefused(original: String, replacement: String, key: String) throws {
    let root = try AdapterTestSupport.scratchDirectory("peft-json")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    try Self.trainedSet(model).save(to: root + "/a")
    let path = root + "/a/adapter_config.json"
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.contains(original))
    try text.replacingOccurrences(of: original, with: replacement).write(
      toFile: path, atomically: true, encoding: .utf8)
    let error = #expect(throws: (any Error).self) {
      try LoRAAdapterSet.load(from: root + "/a", model: model, ledger: MemoryLedger())
    }
    #expect(error.map { "\($0)".contains(key) } == true, "\(String(describing: error))")
  }

  /// A config that claims DoRA over a file without magnitudes is refused, naming use_dora.
  @Test func doraWithoutMagnitudesIsRefused() throws {
    let root = try AdapterTestSupport.scratchDirectory("peft-dora")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    try Self.trainedSet(model).save(to: root + "/a")
    var config = try TrainingJSON.read(LoRAAdapterConfig.self, path: root + "/a/adapter_config.json")
    config.useDoRA = true
    try AdapterConfigFile.write(config, in: root + "/a")
    let error = #expect(throws: TrainingError.self) {
      try LoRAAdapterSet.load(from: root + "/a", model: model, ledger: MemoryLedger())
    }
    #expect(error.map { "\($0)".contains("use_dora") && "\($0)".contains("lora_magnitude_vector") } == true)
  }

  @Test func regexAndUnknownTargetModulesAreRefused() throws {
    let root = try AdapterTestSupport.scratchDirectory("peft-targets")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    let set = try Self.trainedSet(model)
    try set.save(to: root + "/a")
    let path = root + "/a/adapter_config.json"
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let list = try #require(text.range(of: "[\n    \"q_proj\"")).lowerBound
    let end = try #require(text[list...].firstIndex(of: "]"))
    try (text[..<list] + "\"all-linear\"" + text[text.index(after: end)...]).write(
      toFile: path, atomically: true, encoding: .utf8)
    let regex = #expect(throws: TrainingError.self) {
      try LoRAAdapterSet.load(from: root + "/a", model: model, ledger: MemoryLedger())
    }
    #expect(regex?.description.contains("target_modules") == true)
    try (text[..<list] + "[\"q_proj\", \"fc1\"]" + text[text.index(after: end)...]).write(
      toFile: path, atomically: true, encoding: .utf8)
    let unknown = #expect(throws: TrainingError.self) {
      try LoRAAdapterSet.load(from: root + "/a", model: model, ledger: MemoryLedger())
    }
    #expect(unknown?.description.contains("'fc1'") == true)
  }
}
