public import Formats

/// The shape of a Llama-family model, read from GGUF metadata (`<arch>.*` keys) or a Hugging Face config.json.
public struct ModelConfig: Sendable, Equatable, Codable {
  public enum Architecture: String, Sendable, Codable {
    /// Llama, SmolLM, Mistral-style: no projection biases.
    case llama
    /// Qwen2: the same with q/k/v biases.
    case qwen2
  }

  public var architecture: Architecture
  public var hiddenSize: Int
  public var intermediateSize: Int
  public var layerCount: Int
  public var headCount: Int
  public var kvHeadCount: Int
  public var headDim: Int
  public var vocabularySize: Int
  public var contextLength: Int
  public var rmsNormEpsilon: Float
  public var ropeTheta: Double
  public var rotaryDim: Int
  public var tiedEmbeddings: Bool

  public var hasAttentionBias: Bool { architecture == .qwen2 }
  public var queryDim: Int { headCount * headDim }
  public var kvDim: Int { kvHeadCount * headDim }

  /// Checks the relations the forward pass relies on.
  public func validate(path: String) throws(ModelError) {
    func fail(_ reason: String) -> ModelError { .invalidConfig(path: path, reason: reason) }
    for (name, value) in [
      ("hidden size", hiddenSize), ("intermediate size", intermediateSize), ("layer count", layerCount),
      ("head count", headCount), ("kv head count", kvHeadCount), ("head dimension", headDim),
      ("vocabulary size", vocabularySize),
      ("context length", contextLength),
    ]
    where value <= 0 || value > 1 << 24 {
      throw fail("\(name) \(value) is out of range")
    }
    guard headCount % kvHeadCount == 0 else {
      throw fail("\(headCount) heads are not a multiple of \(kvHeadCount) kv heads")
    }
    guard rotaryDim > 0, rotaryDim <= headDim, rotaryDim % 2 == 0 else {
      throw fail("rotary dimension \(rotaryDim) is invalid")
    }
    guard rmsNormEpsilon > 0, rmsNormEpsilon.isFinite else {
      throw fail("RMSNorm epsilon \(rmsNormEpsilon) is invalid")
    }
    guard ropeTheta > 0, ropeTheta.isFinite else { throw fail("rope theta \(ropeTheta) is invalid") }
  }

  /// From GGUF metadata: `general.architecture` then `<arch>.block_count` and friends.
  public init(gguf: GGUFFile) throws {
    let name = try gguf.requiredString("general.architecture")
    guard let architecture = Architecture(rawValue: name) else {
      throw ModelError.unsupportedArchitecture(path: gguf.path, architecture: name)
    }
    self.architecture = architecture
    let p = name + "."
    hiddenSize = try gguf.requiredInt(p + "embedding_length")
    intermediateSize = try gguf.requiredInt(p + "feed_forward_length")
    layerCount = try gguf.requiredInt(p + "block_count")
    headCount = try gguf.requiredInt(p + "attention.head_count")
    kvHeadCount = gguf.metadata[p + "attention.head_count_kv"]?.int ?? headCount
    headDim = gguf.metadata[p + "attention.key_length"]?.int ?? (headCount > 0 ? hiddenSize / headCount : 0)
    contextLength = try gguf.requiredInt(p + "context_length")
    rmsNormEpsilon = Float(try gguf.optionalDouble(p + "attention.layer_norm_rms_epsilon") ?? 1e-5)
    ropeTheta = try gguf.optionalDouble(p + "rope.freq_base") ?? 10000
    rotaryDim = gguf.metadata[p + "rope.dimension_count"]?.int ?? headDim
    if let vocab = gguf.metadata[p + "vocab_size"]?.int {
      vocabularySize = vocab
    } else if let embedding = gguf.info("token_embd.weight") {
      vocabularySize = embedding.shape.first ?? 0
    } else {
      throw FormatError.missingMetadata(path: gguf.path, key: p + "vocab_size")
    }
    tiedEmbeddings = gguf.info("output.weight") == nil
    try validate(path: gguf.path)
  }

  /// From a Hugging Face config.json (`model_type` llama / mistral / qwen2).
  public init(huggingFace dir: HFModelDirectory) throws {
    try self.init(huggingFace: dir.configObject, hasSeparateHead: dir.contains("lm_head.weight"))
  }

  /// From the fields of a Hugging Face config.json, wherever they were stored.
  public init(huggingFace config: JSONObject, hasSeparateHead: Bool) throws {
    let modelType = try config.optionalString("model_type") ?? ""
    switch modelType {
    case "llama", "mistral": architecture = .llama
    case "qwen2": architecture = .qwen2
    default:
      throw ModelError.unsupportedArchitecture(
        path: config.path, architecture: modelType.isEmpty ? "(no model_type)" : modelType)
    }
    hiddenSize = try config.int("hidden_size")
    intermediateSize = try config.int("intermediate_size")
    layerCount = try config.int("num_hidden_layers")
    headCount = try config.int("num_attention_heads")
    kvHeadCount = try config.optionalInt("num_key_value_heads") ?? headCount
    headDim = try config.optionalInt("head_dim") ?? (headCount > 0 ? hiddenSize / headCount : 0)
    vocabularySize = try config.int("vocab_size")
    contextLength = try config.optionalInt("max_position_embeddings") ?? 2048
    rmsNormEpsilon = Float(try config.optionalDouble("rms_norm_eps") ?? 1e-6)
    ropeTheta = try config.optionalDouble("rope_theta") ?? 10000
    rotaryDim = headDim
    tiedEmbeddings = try config.optionalBool("tie_word_embeddings") ?? !hasSeparateHead
    if config.has("rope_scaling") {
      throw ModelError.invalidConfig(path: config.path, reason: "rope_scaling is not supported yet")
    }
    try validate(path: config.path)
  }
}
