import Formats
import Foundation
public import Memory
public import Model

/// A reward model on the shared frozen base: the base with its own LoRA and a scalar `score` head on the final
/// hidden state of a sequence's last token (Hugging Face's sequence classification with one label, as TRL's
/// RewardTrainer trains it). Saved as a PEFT LoRA adapter with task_type SEQ_CLS and `score` in modules_to_save.
public final class RewardModel: TrainableMethod {
  public let adapters: LoRAAdapterSet

  /// A fresh reward model: LoRA as PEFT initializes it, the score head ~ N(0, 0.02²) (transformers'
  /// initializer_range for Llama), drawn from the LoRA seed so runs repeat.
  /// - Parameter tokenizer: the base's tokenizer fingerprint (`BPETokenizer.fingerprint`), saved so the model is
  ///   refused on another base; nil for none.
  public init(config: LoRAConfig, model: ModelConfig, tokenizer: String? = nil, ledger: MemoryLedger) throws {
    adapters = try LoRAAdapterSet(config: config, model: model, heads: .score(hidden: model.hiddenSize), ledger: ledger)
    if let tokenizer { adapters.metadata[Self.tokenizerKey] = tokenizer }
    var random = DataRandom(seed: config.seed, stream: [0x5343_4F52])
    let weight = adapters.parameters[LoRAHeads.scoreKey]!.value
    for i in 0..<weight.count {
      // Box–Muller from two uniforms in (0, 1].
      let u1 = 1 - random.unit()
      let u2 = random.unit()
      weight[i] = Float(0.02 * (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
  }

  init(adapters: LoRAAdapterSet) { self.adapters = adapters }

  /// Reads a reward model saved by `save` (or by PEFT with the same layout) for a model of configuration `model`;
  /// a plain LoRA adapter, or one for another hidden size, is refused with the reason.
  /// With `tokenizer` (the base's fingerprint), a reward model recorded for another tokenizer is refused too.
  public static func load(from directory: String, model: ModelConfig, tokenizer: String? = nil, ledger: MemoryLedger)
    throws -> RewardModel
  {
    // The score head's width says first, and plainly, whether this reward model was made for a base of this size.
    let weightsPath = try AdapterDirectory.files(in: directory).weights
    if let entry = try? SafetensorsFile(path: weightsPath).entry(LoRAHeads.scoreKey), entry.shape.count == 2,
      entry.shape[1] != model.hiddenSize
    {
      throw TrainingError.checkpoint(
        path: directory,
        reason: "this reward model's score head reads hidden states of \(entry.shape[1]), the model has "
          + "\(model.hiddenSize): it was trained on another base")
    }
    let adapters = try LoRAAdapterSet.load(
      from: directory, model: model, heads: .score(hidden: model.hiddenSize), ledger: ledger)
    if let tokenizer, let recorded = adapters.metadata[tokenizerKey], recorded != tokenizer {
      throw TrainingError.checkpoint(
        path: directory,
        reason: "this reward model was trained with another tokenizer (fingerprint \(recorded), the model's is "
          + "\(tokenizer)): its scores would read the wrong tokens")
    }
    return RewardModel(adapters: adapters)
  }

  static let tokenizerKey = "edgetune.tokenizer"

  public var scoreHead: ScalarHeadView { ScalarHeadView(weight: parameters[LoRAHeads.scoreKey]!, bias: nil) }

  /// The reward of one tokenized sequence (prompt and completion): the score of its last token's final state.
  public func score(_ tokens: [Int32], graph: TrainingGraph) throws -> Double {
    let row = TrainingGraph.Row(tokens: tokens, targets: [Int32](repeating: -1, count: tokens.count))
    let out = try graph.evaluate(
      row, method: self, request: HeadRequest(scalarHead: scoreHead, scalarPositions: [tokens.count - 1]))
    return Double(out.scalars[0])
  }

  // MARK: TrainableMethod

  public var methodName: String { "reward" }
  public var parameters: ParameterStore { adapters.parameters }
  public var lora: (any LoRAProvider)? { adapters }
  public var virtualTokens: (any VirtualTokenGradients)? { nil }
  public var seed: UInt64 { adapters.config.seed }
  public var loraDropout: Float { Float(adapters.config.dropout) }

  public func save(to directory: String, baseModel: String?, overwrite: Bool) throws {
    try adapters.save(to: directory, baseModel: baseModel, overwrite: overwrite)
  }

  public func restoreValues(from directory: String, ledger: MemoryLedger) throws {
    let saved = try RewardModel.load(from: directory, model: adapters.model, ledger: ledger)
    guard saved.adapters.config.rank == adapters.config.rank, saved.adapters.config.targets == adapters.config.targets
    else {
      throw TrainingError.checkpoint(
        path: directory, reason: "the checkpoint's LoRA rank or targets differ from this run's")
    }
    parameters.allValues.baseAddress!.update(from: saved.parameters.allValues.baseAddress!, count: parameters.count)
  }
}
