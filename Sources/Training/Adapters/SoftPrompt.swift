import Foundation
public import Memory
public import Model

/// Prompt tuning: N trainable virtual-token embeddings placed before every input, the only trainable part.
///
/// One tensor, "prompt_embeddings" (N, hidden), PEFT's name for it. Initialized as PEFT's `PromptTuningInit` does:
/// from text (its tokens, truncated or repeated to N, their embedding rows copied), from vocabulary rows sampled
/// uniformly, or random (N(0, 1): torch.nn.Embedding's default, which is what PEFT's RANDOM leaves). Inputs carry the
/// virtual tokens as ids −1 … −N (`VirtualToken`), so positions, attention and loss masks count them like tokens.
/// ref: Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning"; PEFT
/// src/peft/tuners/prompt_tuning/model.py (PromptEmbedding) and config.py.
public final class SoftPrompt: TrainableMethod, VirtualTokenGradients {
  public enum Initialization: Sendable, Equatable {
    case text(String)
    case sampledVocabulary
    case random

    /// PEFT's `prompt_tuning_init` name.
    public var peftName: String {
      switch self {
      case .text: "TEXT"
      case .sampledVocabulary: "SAMPLE_VOCAB"
      case .random: "RANDOM"
      }
    }
  }

  public let virtualTokenCount: Int
  public let initialization: Initialization
  public let seed: UInt64
  public let model: ModelConfig
  public let parameters: ParameterStore
  static let tensorName = "prompt_embeddings"

  /// A fresh soft prompt of `virtualTokens` embeddings for `model`, initialized by `initialization`.
  public convenience init(
    virtualTokens: Int, initialization: Initialization, seed: UInt64, model: LanguageModel, ledger: MemoryLedger
  ) throws {
    try self.init(
      virtualTokens: virtualTokens, initialization: initialization, seed: seed, config: model.config, ledger: ledger)
    try initialize(from: model)
  }

  init(virtualTokens: Int, initialization: Initialization, seed: UInt64, config: ModelConfig, ledger: MemoryLedger)
    throws
  {
    guard virtualTokens >= 1 else {
      throw TrainingError.invalidOption(name: "virtualTokens", reason: "must be at least 1, not \(virtualTokens)")
    }
    if case .text(let text) = initialization, text.isEmpty {
      throw TrainingError.invalidOption(
        name: "initialization", reason: "is empty; give the text the prompt starts from")
    }
    self.virtualTokenCount = virtualTokens
    self.initialization = initialization
    self.seed = seed
    self.model = config
    self.parameters = try ParameterStore(
      [(Self.tensorName, [virtualTokens, config.hiddenSize])], label: "prompt", ledger: ledger)
  }

  var embeddings: ParameterTensor { parameters.tensors[0] }

  private func initialize(from model: LanguageModel) throws {
    let d = self.model.hiddenSize
    let n = virtualTokenCount
    var random = SeededGenerator(seed: seed)
    switch initialization {
    case .text(let text):
      let ids = model.tokenizer.encode(text, parseSpecial: false)
      guard !ids.isEmpty else {
        throw TrainingError.invalidOption(name: "initialization", reason: "'\(text)' encodes to no tokens")
      }
      // PEFT: truncate to N, or repeat the whole list ceil(N / count) times and truncate.
      for k in 0..<n { copyRow(Int(ids[k % ids.count]), to: k, from: model) }
    case .sampledVocabulary:
      for k in 0..<n { copyRow(Int(random.next() % UInt64(self.model.vocabularySize)), to: k, from: model) }
    case .random:
      for i in 0..<(n * d) { embeddings.value[i] = Float(random.nextGaussian()) }
    }
  }

  private func copyRow(_ token: Int, to k: Int, from model: LanguageModel) {
    let d = self.model.hiddenSize
    model.weights.embedding.decodeRows(token..<(token + 1), into: embeddings.value.baseAddress! + k * d)
  }

  // MARK: VirtualTokenGradients

  public func virtualEmbedding(_ index: Int) -> UnsafePointer<Float> {
    UnsafePointer(embeddings.value.baseAddress! + index * model.hiddenSize)
  }

  public func virtualGradient(_ index: Int) -> UnsafeMutablePointer<Float> {
    embeddings.gradient.baseAddress! + index * model.hiddenSize
  }

  // MARK: TrainableMethod

  public var methodName: String { "prompt" }
  public var lora: (any LoRAProvider)? { nil }
  public var virtualTokens: (any VirtualTokenGradients)? { self }

  public func restoreValues(from directory: String, ledger: MemoryLedger) throws {
    let saved = try SoftPrompt.load(from: directory, model: model, ledger: ledger)
    guard saved.virtualTokenCount == virtualTokenCount else {
      throw TrainingError.checkpoint(
        path: directory,
        reason: "the checkpoint has \(saved.virtualTokenCount) virtual tokens, this run \(virtualTokenCount)")
    }
    embeddings.value.baseAddress!.update(from: saved.embeddings.value.baseAddress!, count: embeddings.count)
  }
}

extension SeededGenerator {
  /// A standard normal draw (Box–Muller on two 53-bit uniforms).
  mutating func nextGaussian() -> Double {
    let u1 = (Double(next() >> 11) + 1) * 0x1p-53  // (0, 1]: log is finite
    let u2 = Double(next() >> 11) * 0x1p-53
    return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
  }
}
