import Formats
import Foundation
public import Memory
public import Model
import Quantization

/// A soft prompt as a PEFT prompt-tuning adapter directory: `adapter_config.json` (peft_type PROMPT_TUNING) and
/// `adapter_model.safetensors` with one tensor, "prompt_embeddings" (N, hidden) F32, which
/// `PeftModel.from_pretrained` loads onto the base model.
/// ref: PEFT src/peft/utils/save_and_load.py (prompt learning: `prompt_embeddings`), tuners/prompt_tuning/config.py.
extension SoftPrompt {
  static let seedKey = "edgetune.prompt.seed"

  public func save(to directory: String, baseModel: String? = nil, overwrite: Bool = false) throws {
    try AdapterDirectory.save(to: directory, overwrite: overwrite) { temporary in
      try AdapterConfigFile.write(PromptTuningAdapterConfig(self, baseModel: baseModel), in: temporary)
      let writer = try SafetensorsWriter(
        path: temporary + "/" + AdapterDirectory.weightsFileName,
        plans: [.init(name: Self.tensorName, dtype: "F32", shape: embeddings.shape, byteCount: embeddings.count * 4)],
        metadata: [("format", "pt"), (Self.seedKey, String(seed))])
      try writer.write(UnsafeRawBufferPointer(embeddings.value))
      try writer.finish()
    }
  }

  /// Reads a prompt-tuning adapter written by PEFT or by `save(to:)` for a model of configuration `model`, refusing
  /// (naming the file and key) another peft_type, a token_dim that is not the model's hidden size, several transformer
  /// submodules (encoder-decoder prompts), and a tensor of the wrong shape or type.
  public static func load(from directory: String, model: ModelConfig, ledger: MemoryLedger) throws -> SoftPrompt {
    let (configPath, weightsPath) = try AdapterDirectory.files(in: directory)
    func fail(_ path: String, _ reason: String) -> TrainingError { .checkpoint(path: path, reason: reason) }
    let json = try TrainingJSON.read(PromptTuningAdapterConfig.self, path: configPath)
    guard json.peftType == "PROMPT_TUNING" else {
      throw fail(configPath, "peft_type is \(json.peftType ?? "missing"), not PROMPT_TUNING")
    }
    let count = json.numVirtualTokens
    if let dim = json.tokenDim, dim != model.hiddenSize {
      throw fail(configPath, "token_dim \(dim) is not this model's hidden size \(model.hiddenSize)")
    }
    if let submodules = json.numTransformerSubmodules, submodules != 1 {
      throw fail(configPath, "num_transformer_submodules \(submodules): only decoder-only prompts (1) are supported")
    }
    let initialization: Initialization
    switch json.promptTuningInit ?? "RANDOM" {
    case "TEXT": initialization = .text(json.promptTuningInitText ?? "?")
    case "SAMPLE_VOCAB": initialization = .sampledVocabulary
    default: initialization = .random
    }
    let weights = try SafetensorsFile(path: weightsPath)
    if weights.metadata[SafetensorsWriter.checksumKey] != nil { try AdamW.verifyChecksums(weights) }
    let seed = weights.metadata[seedKey].flatMap(UInt64.init) ?? 0
    let prompt = try SoftPrompt(
      virtualTokens: count, initialization: initialization, seed: seed, config: model, ledger: ledger)
    guard let entry = weights.entry(tensorName) else {
      throw fail(weightsPath, "tensor '\(tensorName)' is missing")
    }
    guard entry.shape == [count, model.hiddenSize] else {
      throw fail(weightsPath, "'\(tensorName)' has shape \(entry.shape), expected [\(count), \(model.hiddenSize)]")
    }
    guard let decodable = entry.type.decodable, [.f32, .f16, .bf16].contains(decodable) else {
      throw fail(weightsPath, "'\(tensorName)' is \(entry.dtype); only F32, F16 and BF16 can be read")
    }
    if let other = weights.entries.first(where: { $0.name != tensorName }) {
      throw fail(weightsPath, "unexpected tensor '\(other.name)' in a prompt-tuning adapter")
    }
    let view = try weights.tensor(tensorName)
    ggmlDecode(decodable, from: view.data, to: prompt.embeddings.value.baseAddress!, count: prompt.embeddings.count)
    return prompt
  }
}
