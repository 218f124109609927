import Foundation
public import Memory

/// How much a conversion costs in quality, measured the way a user would: perplexity of the source and of the output
/// on the same built-in English sample (`SampleText.english`), in one window.
public struct QuantizationCheck: Sendable, Codable, Equatable {
  public var sourcePerplexity: Double
  public var outputPerplexity: Double
  public var tokens: Int
  /// (output / source − 1) × 100.
  public var changePercent: Double { (outputPerplexity / sourcePerplexity - 1) * 100 }

  enum CodingKeys: String, CodingKey {
    case tokens
    case sourcePerplexity = "source_perplexity"
    case outputPerplexity = "output_perplexity"
  }

  /// Scores the sample with `source` and `output`, each in a session of its own (created and released here), their
  /// weights held as `policy` says (the check's plan picks it for a budget; by default every layer is streamed).
  public static func measure(
    source: LanguageModel, output: LanguageModel, ledger: MemoryLedger,
    policy: WeightResidency.Policy = .streaming(residentLayers: 0)
  ) throws -> QuantizationCheck {
    let ids = source.encodePrompt(SampleText.english)
    guard output.encodePrompt(SampleText.english) == ids else {
      throw ModelError.invalidConfig(
        path: output.path, reason: "its tokenizer encodes the sample text differently from the source's")
    }
    let window = min(ids.count, source.config.contextLength, output.config.contextLength)
    // One model at a time, its pages dropped after, so the check adds a session and one model's resident layers
    // (none when streamed) to the conversion's memory, not two models.
    func perplexity(_ model: LanguageModel) throws -> Double {
      let previous = model.residency.policy
      model.residency.policy = policy
      defer {
        model.dropAllWeightPages()
        model.residency.policy = previous
      }
      let session = try InferenceSession(model: model, capacity: window, chunk: chunk, ledger: ledger)
      return try evaluatePerplexity(ids: ids, window: window, session: session).perplexity
    }
    return QuantizationCheck(
      sourcePerplexity: try perplexity(source), outputPerplexity: try perplexity(output), tokens: ids.count)
  }

  /// Mean stored bits per weight of a model's matrices (embeddings included): 4.5 for Q4_0, 16 for fp16.
  public static func bitsPerWeight(_ model: LanguageModel) -> Double {
    var bytes = 0
    var weights = 0
    for weight in model.weights.named(config: model.config) {
      if case .matrix(let m, _) = weight.kind {
        bytes += m.storageBytes
        weights += m.rows * m.cols
      }
    }
    return weights > 0 ? Double(bytes) * 8 / Double(weights) : 32
  }

  /// Sources at or below this many bits per weight (Q6_K's 6.56 and everything smaller; not Q8_0's 8.5) are
  /// quantized already, and NF4 quantizes them a second time.
  public static let quantizedSourceBits = 7.0
}
