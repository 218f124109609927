import Formats
import Foundation

extension ModelConfig {
  /// A Llama configuration from its sizes, checked; the defaults are TinyLlama-1.1B's shapes (hidden 2048, 22 layers
  /// of 32 query and 4 key/value heads of 64, SwiGLU 5632, rope theta 10000, RMSNorm ε 1e-5, untied head).
  /// The head dimension is hidden / heads unless given. Built through the config.json reader, so it equals the
  /// configuration a reader gets back from a file that stores it. ref: TinyLlama/TinyLlama-1.1B-Chat-v1.0 config.json.
  public static func llama(
    vocabularySize: Int, hiddenSize: Int = 2048, intermediateSize: Int = 5632, layerCount: Int = 22,
    headCount: Int = 32, kvHeadCount: Int = 4, headDim: Int? = nil, contextLength: Int = 2048,
    ropeTheta: Double = 10000, rmsNormEpsilon: Float = 1e-5, tiedEmbeddings: Bool = false,
    path: String = "(synthetic configuration)"
  ) throws -> ModelConfig {
    guard headCount > 0, kvHeadCount > 0 else {
      throw ModelError.invalidConfig(
        path: path, reason: "head counts must be positive (\(headCount) heads, \(kvHeadCount) kv heads)")
    }
    guard headDim != nil || hiddenSize % headCount == 0 else {
      throw ModelError.invalidConfig(
        path: path, reason: "hidden size \(hiddenSize) is not a multiple of \(headCount) heads; give the head dimension"
      )
    }
    let fields: [String: Any] = [
      "model_type": "llama", "hidden_size": hiddenSize, "intermediate_size": intermediateSize,
      "num_hidden_layers": layerCount, "num_attention_heads": headCount, "num_key_value_heads": kvHeadCount,
      "head_dim": headDim ?? hiddenSize / headCount, "vocab_size": vocabularySize,
      "max_position_embeddings": contextLength, "rms_norm_eps": Double(rmsNormEpsilon), "rope_theta": ropeTheta,
      "tie_word_embeddings": tiedEmbeddings,
    ]
    let text = String(
      decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]), as: UTF8.self)
    return try ModelConfig(huggingFace: try JSONObject(text: text, path: path), hasSeparateHead: !tiedEmbeddings)
  }
}
