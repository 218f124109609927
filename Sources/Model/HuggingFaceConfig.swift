import Foundation

/// A Hugging Face config.json for a `ModelConfig`: written into NF4 files' metadata, exported model directories and
/// `synthesize --json`. Floats are written at their exact fp32 value, so reading them back
/// (`ModelConfig(huggingFace:)`) gives the same configuration.
/// ref: transformers LlamaConfig, Qwen2Config
public struct HuggingFaceConfig: Codable, Sendable, Equatable {
  public var architectures: [String]
  public var modelType: String
  public var hiddenSize: Int
  public var intermediateSize: Int
  public var numHiddenLayers: Int
  public var numAttentionHeads: Int
  public var numKeyValueHeads: Int
  public var headDim: Int
  public var vocabSize: Int
  public var maxPositionEmbeddings: Int
  public var rmsNormEps: Double
  public var ropeTheta: Double
  public var tieWordEmbeddings: Bool
  public var hiddenAct = "silu"
  public var attentionBias: Bool
  /// "float32", or "float16" for a half-precision export.
  public var torchDtype = "float32"
  /// The special tokens' ids (exported directories only).
  public var bosTokenID: Int?
  public var eosTokenID: Int?

  public init(_ config: ModelConfig) {
    architectures = [config.architecture == .qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"]
    modelType = config.architecture.rawValue
    hiddenSize = config.hiddenSize
    intermediateSize = config.intermediateSize
    numHiddenLayers = config.layerCount
    numAttentionHeads = config.headCount
    numKeyValueHeads = config.kvHeadCount
    headDim = config.headDim
    vocabSize = config.vocabularySize
    maxPositionEmbeddings = config.contextLength
    rmsNormEps = Double(config.rmsNormEpsilon)
    ropeTheta = config.ropeTheta
    tieWordEmbeddings = config.tiedEmbeddings
    attentionBias = config.hasAttentionBias
  }

  enum CodingKeys: String, CodingKey {
    case architectures
    case modelType = "model_type"
    case hiddenSize = "hidden_size"
    case intermediateSize = "intermediate_size"
    case numHiddenLayers = "num_hidden_layers"
    case numAttentionHeads = "num_attention_heads"
    case numKeyValueHeads = "num_key_value_heads"
    case headDim = "head_dim"
    case vocabSize = "vocab_size"
    case maxPositionEmbeddings = "max_position_embeddings"
    case rmsNormEps = "rms_norm_eps"
    case ropeTheta = "rope_theta"
    case tieWordEmbeddings = "tie_word_embeddings"
    case hiddenAct = "hidden_act"
    case attentionBias = "attention_bias"
    case torchDtype = "torch_dtype"
    case bosTokenID = "bos_token_id"
    case eosTokenID = "eos_token_id"
  }
}

extension HuggingFaceConfig {
  /// Compact with sorted keys: the layout of the copy in an NF4 file's metadata.
  static var encoder: JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return encoder
  }
}
