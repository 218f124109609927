public import Memory
public import Model

/// Opens any adapter directory EdgeTune can apply, by its adapter_config.json's peft_type: LORA → `LoRAAdapterSet`,
/// PROMPT_TUNING → `SoftPrompt`, BOTTLENECK → `BottleneckAdapterSet`; a llama.cpp LoRA adapter GGUF file → LoRA.
public enum AdapterLoader {
  /// adapter_config.json's peft_type ("LORA", "PROMPT_TUNING", …), or nil when it is missing or unreadable.
  /// A llama.cpp LoRA adapter GGUF file counts as LORA.
  public static func peftType(in directory: String) -> String? {
    LoRAAdapterSet.isGGUFFile(directory) ? "LORA" : AdapterConfigFile.kind(in: directory)?.peftType
  }

  /// A prompt-tuning adapter's num_virtual_tokens (read from its config before loading it), else nil.
  public static func virtualTokenCount(in directory: String) -> Int? {
    guard let kind = AdapterConfigFile.kind(in: directory), kind.peftType == "PROMPT_TUNING" else { return nil }
    return kind.numVirtualTokens
  }

  /// `load(from:model:ledger:)` for `model`, ready for its forward (a DoRA adapter measured against its weights).
  public static func load(from directory: String, model: LanguageModel, ledger: MemoryLedger) throws
    -> any TrainableMethod
  {
    let method = try load(from: directory, model: model.config, ledger: ledger)
    if let set = method as? LoRAAdapterSet { try set.attach(to: model, initializeMagnitudes: false, ledger: ledger) }
    return method
  }

  public static func load(from directory: String, model: ModelConfig, ledger: MemoryLedger) throws
    -> any TrainableMethod
  {
    if LoRAAdapterSet.isGGUFFile(directory) {
      return try LoRAAdapterSet.loadGGUF(from: directory, model: model, ledger: ledger)
    }
    let (configPath, _) = try AdapterDirectory.files(in: directory)
    let kind = AdapterConfigFile.kind(in: directory)
    switch kind?.peftType {
    case "PROMPT_TUNING": return try SoftPrompt.load(from: directory, model: model, ledger: ledger)
    case "IA3": return try IA3Set.load(from: directory, model: model, ledger: ledger)
    case SelectiveFiles.peftType:
      switch kind?.tensors {
      case SelectiveLayers.tensorsValue: return try SelectiveLayers.load(from: directory, model: model, ledger: ledger)
      case SelectiveHead.tensorsValue: return try SelectiveHead.load(from: directory, model: model, ledger: ledger)
      default: break
      }
      return try SelectiveNorms.load(from: directory, model: model, ledger: ledger)
    case BottleneckAdapterSet.peftType:
      return try BottleneckAdapterSet.load(from: directory, model: model, ledger: ledger)
    case "LORA", nil: return try LoRAAdapterSet.load(from: directory, model: model, ledger: ledger)
    case let other?:
      throw TrainingError.checkpoint(
        path: configPath,
        reason: "peft_type \(other) is not one EdgeTune applies (LORA, PROMPT_TUNING, IA3, BOTTLENECK, SELECTIVE)")
    }
  }
}

extension TrainableMethod {
  /// The virtual token ids to put before every input (a soft prompt's), or none.
  public var inputPrefix: [Int32] { VirtualToken.prefix(virtualTokens?.virtualTokenCount ?? 0) }

  /// One line for logs: "LoRA r=8 on q_proj,v_proj", "soft prompt of 20 virtual tokens".
  public var description: String {
    if let set = self as? LoRAAdapterSet {
      return "LoRA r=\(set.config.rank) on \(set.config.targets.map(\.moduleName).joined(separator: ","))"
    }
    if self is IA3Set { return "IA3 scaling vectors on k_proj, v_proj and down_proj's input" }
    if self is SelectiveNorms { return "fine-tuned norm weights (selective)" }
    if self is SelectiveHead { return "fine-tuned output head (selective)" }
    if let set = self as? SelectiveLayers {
      return "fine-tuned weights of the last \(set.count) layers (selective)"
    }
    if let set = self as? BottleneckAdapterSet {
      return
        "\(set.config.architecture.rawValue) bottleneck adapters (size \(set.size), \(set.config.activation.rawValue))"
    }
    return "soft prompt of \(virtualTokens?.virtualTokenCount ?? 0) virtual tokens"
  }
}

extension InferenceSession {
  /// Applies `method`'s inference hooks (soft prompt, bottleneck adapters, IA3 vectors, trainable norms); its LoRA
  /// parts go to the session's init, which sizes their buffers. nil removes them.
  public func apply(_ method: (any TrainableMethod)?) {
    virtualTokens = method?.virtualTokens
    bottlenecks = method?.bottlenecks
    scalings = method?.scalings
    norms = method?.norms
    matrices = method?.matrices
  }
}
