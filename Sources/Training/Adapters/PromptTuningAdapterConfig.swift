/// adapter_config.json of a soft prompt: PEFT's PromptTuningConfig. inference_mode true: PEFT then takes the saved
/// embeddings as they are and does not re-run the initialization (which would need the tokenizer). Read from PEFT's
/// files too; `SoftPrompt.load` refuses what EdgeTune does not implement.
/// ref: PEFT src/peft/tuners/prompt_tuning/config.py (PromptTuningConfig), src/peft/config.py (PromptLearningConfig)
struct PromptTuningAdapterConfig: Codable, Equatable {
  var peftType: String? = "PROMPT_TUNING"
  var baseModel: String?
  var numVirtualTokens: Int
  /// The embedding width (the model's hidden size).
  var tokenDim: Int?
  /// 1 for decoder-only models; encoder-decoder prompts have 2.
  var numTransformerSubmodules: Int?
  var numAttentionHeads: Int?
  var numLayers: Int?
  /// TEXT, SAMPLE_VOCAB or RANDOM, and the text for TEXT.
  var promptTuningInit: String?
  var promptTuningInitText: String?

  init(_ prompt: SoftPrompt, baseModel: String?) {
    self.baseModel = baseModel
    numVirtualTokens = prompt.virtualTokenCount
    tokenDim = prompt.model.hiddenSize
    numTransformerSubmodules = 1
    numAttentionHeads = prompt.model.headCount
    numLayers = prompt.model.layerCount
    promptTuningInit = prompt.initialization.peftName
    if case .text(let text) = prompt.initialization { promptTuningInitText = text }
  }

  enum CodingKeys: String, CodingKey {
    case revision
    case peftType = "peft_type"
    case baseModel = "base_model_name_or_path"
    case numVirtualTokens = "num_virtual_tokens"
    case tokenDim = "token_dim"
    case numTransformerSubmodules = "num_transformer_submodules"
    case numAttentionHeads = "num_attention_heads"
    case numLayers = "num_layers"
    case promptTuningInit = "prompt_tuning_init"
    case promptTuningInitText = "prompt_tuning_init_text"
    case autoMapping = "auto_mapping"
    case inferenceMode = "inference_mode"
    case taskType = "task_type"
    case tokenizerKwargs = "tokenizer_kwargs"
    case tokenizerName = "tokenizer_name_or_path"
  }

  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    peftType = try c.decodeIfPresent(String.self, forKey: .peftType)
    baseModel = try c.decodeIfPresent(String.self, forKey: .baseModel)
    numVirtualTokens = try c.decode(Int.self, forKey: .numVirtualTokens)
    tokenDim = try c.decodeIfPresent(Int.self, forKey: .tokenDim)
    numTransformerSubmodules = try c.decodeIfPresent(Int.self, forKey: .numTransformerSubmodules)
    numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads)
    numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers)
    promptTuningInit = try c.decodeIfPresent(String.self, forKey: .promptTuningInit)
    promptTuningInitText = try c.decodeIfPresent(String.self, forKey: .promptTuningInitText)
  }

  /// Every field, nulls included, as PEFT's save_pretrained writes them; the tokenizer is the base model's.
  func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    let none: String? = nil
    try c.encode(none, forKey: .autoMapping)
    try c.encode(baseModel, forKey: .baseModel)
    try c.encode(true, forKey: .inferenceMode)
    try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
    try c.encode(numLayers, forKey: .numLayers)
    try c.encode(numTransformerSubmodules, forKey: .numTransformerSubmodules)
    try c.encode(numVirtualTokens, forKey: .numVirtualTokens)
    try c.encode(peftType, forKey: .peftType)
    try c.encode(promptTuningInit, forKey: .promptTuningInit)
    try c.encode(promptTuningInitText, forKey: .promptTuningInitText)
    try c.encode(none, forKey: .revision)
    try c.encode("CAUSAL_LM", forKey: .taskType)
    try c.encode(tokenDim, forKey: .tokenDim)
    try c.encode(none, forKey: .tokenizerKwargs)
    try c.encode(baseModel, forKey: .tokenizerName)
  }
}
