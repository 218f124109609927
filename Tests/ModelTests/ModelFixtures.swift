import Foundation
import Testing

@testable import Model

/// Where the model tests find the real model and the files made from it at set-up (Tools/test does both):
/// - the SmolLM2 GGUF fetched by Tools/fetch-model ($EDGETUNE_MODEL, else the default cache path),
/// - a float32 Hugging Face copy written by Tools/reference/make_hf_copy.py ($EDGETUNE_HF_COPY),
/// - a sharded copy of the same ($EDGETUNE_HF_SHARDED_COPY).
/// When EDGETUNE_REQUIRE_MODEL=1 (the test script sets it) a missing file fails instead of skipping.
enum ModelFixtures {
  static let environment = ProcessInfo.processInfo.environment
  static let cache = environment["EDGETUNE_CACHE"] ?? (NSHomeDirectory() + "/.cache/edgetune")
  static let ggufPath = environment["EDGETUNE_MODEL"] ?? cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
  static let hfCopyPath = environment["EDGETUNE_HF_COPY"] ?? cache + "/models/smollm2-135m-hf-f32"
  static let hfShardedCopyPath =
    environment["EDGETUNE_HF_SHARDED_COPY"] ?? cache + "/models/smollm2-135m-hf-f32-sharded"
  static let required = environment["EDGETUNE_REQUIRE_MODEL"] == "1"
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

  static var haveGGUF: Bool { required || FileManager.default.fileExists(atPath: ggufPath) }
  static var haveHFCopy: Bool { required || FileManager.default.fileExists(atPath: hfCopyPath + "/config.json") }
  static var haveShardedCopy: Bool {
    required || FileManager.default.fileExists(atPath: hfShardedCopyPath + "/config.json")
  }

  /// The GGUF model, opened once for all tests (the mapping is shared, read-only).
  static let gguf: Result<LanguageModel, any Error> = Result { try LanguageModel(path: ggufPath) }

  static func ggufModel() throws -> LanguageModel { try gguf.get() }

  static let reference: Result<ReferenceGolden, any Error> = Result {
    let data = try Data(contentsOf: directory.appendingPathComponent("smollm2_reference.json"))
    return try JSONDecoder().decode(ReferenceGolden.self, from: data)
  }
}

/// Fixtures/smollm2_reference.json, written by Tools/reference/llama_reference.py --write-golden (numpy, float64,
/// from the gguf package's dequantized tensors, llama.cpp's own Q/K layout and rotary convention).
struct ReferenceGolden: Decodable, Sendable {
  struct Chat: Decodable, Sendable {
    var messages: [ChatMessage]
    var rendered: String
    var tokenIDs: [Int32]
    var sampleIDs: [Int]
    var logits: [[Float]]
    var top: [[[Double]]]
    var logsumexp: [Double]
    enum CodingKeys: String, CodingKey {
      case messages, rendered, logits, top, logsumexp
      case tokenIDs = "token_ids"
      case sampleIDs = "sample_ids"
    }
  }
  struct Greedy: Decodable, Sendable {
    var promptIDs: [Int32]
    var generatedIDs: [Int32]
    var generatedText: String
    enum CodingKeys: String, CodingKey {
      case promptIDs = "prompt_ids"
      case generatedIDs = "generated_ids"
      case generatedText = "generated_text"
    }
  }
  struct Eval: Decodable, Sendable {
    var textFile: String
    var context: Int
    var tokens: Int
    var predicted: Int
    var meanLoss: Double
    var perplexity: Double
    enum CodingKeys: String, CodingKey {
      case context, tokens, predicted, perplexity
      case textFile = "text_file"
      case meanLoss = "mean_loss"
    }
  }
  var modelSHA256: String
  var chat: Chat
  var greedy: Greedy
  var eval: Eval
  enum CodingKeys: String, CodingKey {
    case chat, greedy, eval
    case modelSHA256 = "model_sha256"
  }
}
