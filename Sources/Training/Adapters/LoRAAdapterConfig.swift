import Formats

/// adapter_config.json of a LoRA or DoRA adapter: PEFT's LoraConfig. Written with the fields PEFT 0.10–0.13 know, so
/// older and newer versions load it (the ones EdgeTune never varies, such as inference_mode, only by `encode(to:)`);
/// read from PEFT's own files too, whose other fields are ignored. `LoRAAdapterSet.parseAdapterConfig` refuses the
/// settings EdgeTune does not implement, by key.
/// ref: PEFT src/peft/tuners/lora/config.py (LoraConfig), src/peft/config.py (PeftConfigMixin.save_pretrained)
struct LoRAAdapterConfig: Codable, Equatable {
  var peftType: String? = "LORA"
  /// CAUSAL_LM, or SEQ_CLS for a reward model.
  var taskType: String?
  var baseModel: String?
  var rank: Int
  var alpha: Double
  var dropout = 0.0
  var targetModules: AdapterModules?
  /// Fully trained modules beside the adapter (a reward model's "score").
  var modulesToSave: [String]?
  var useRSLoRA = false
  var useDoRA = false
  var fanInFanOut = false
  var bias = "none"
  /// Set only in configs EdgeTune refuses: adapters on a subset of layers, per-module ranks or alphas.
  var layersToTransform: JSONValue?
  var layersPattern: JSONValue?
  var layerReplication: JSONValue?
  var rankPattern: JSONValue?
  var alphaPattern: JSONValue?

  init(_ config: LoRAConfig, heads: LoRAHeads, baseModel: String?) {
    taskType = heads.taskType
    self.baseModel = baseModel
    rank = config.rank
    alpha = config.alpha
    dropout = config.dropout
    targetModules = .names(config.targets.map(\.moduleName))
    modulesToSave = heads.modules.isEmpty ? nil : heads.modules
    useRSLoRA = config.useRSLoRA
    useDoRA = config.useDoRA
  }

  enum CodingKeys: String, CodingKey {
    case bias, revision
    case peftType = "peft_type"
    case taskType = "task_type"
    case baseModel = "base_model_name_or_path"
    case rank = "r"
    case alpha = "lora_alpha"
    case dropout = "lora_dropout"
    case targetModules = "target_modules"
    case modulesToSave = "modules_to_save"
    case useRSLoRA = "use_rslora"
    case useDoRA = "use_dora"
    case fanInFanOut = "fan_in_fan_out"
    case layersToTransform = "layers_to_transform"
    case layersPattern = "layers_pattern"
    case layerReplication = "layer_replication"
    case rankPattern = "rank_pattern"
    case alphaPattern = "alpha_pattern"
    case autoMapping = "auto_mapping"
    case inferenceMode = "inference_mode"
    case initLoRAWeights = "init_lora_weights"
    case loftQConfig = "loftq_config"
    case megatronConfig = "megatron_config"
    case megatronCore = "megatron_core"
  }

  /// A missing or null field takes PEFT's default; r and lora_alpha are required.
  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    peftType = try c.decodeIfPresent(String.self, forKey: .peftType)
    taskType = try c.decodeIfPresent(String.self, forKey: .taskType)
    baseModel = try c.decodeIfPresent(String.self, forKey: .baseModel)
    rank = try c.decode(Int.self, forKey: .rank)
    alpha = try c.decode(Double.self, forKey: .alpha)
    dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0
    targetModules = AdapterModules.decodeIfPresent(c, forKey: .targetModules)
    modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
    useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA) ?? false
    useDoRA = try c.decodeIfPresent(Bool.self, forKey: .useDoRA) ?? false
    fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
    bias = try c.decodeIfPresent(String.self, forKey: .bias) ?? "none"
    layersToTransform = try c.decodeIfPresent(JSONValue.self, forKey: .layersToTransform)
    layersPattern = try c.decodeIfPresent(JSONValue.self, forKey: .layersPattern)
    layerReplication = try c.decodeIfPresent(JSONValue.self, forKey: .layerReplication)
    rankPattern = try c.decodeIfPresent(JSONValue.self, forKey: .rankPattern)
    alphaPattern = try c.decodeIfPresent(JSONValue.self, forKey: .alphaPattern)
  }

  /// Every field, nulls and empty objects included, as PEFT's save_pretrained writes them.
  func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    let none: String? = nil
    let empty: [String: JSONValue] = [:]
    try c.encode(alphaPattern ?? .object(empty), forKey: .alphaPattern)
    try c.encode(none, forKey: .autoMapping)
    try c.encode(baseModel, forKey: .baseModel)
    try c.encode(bias, forKey: .bias)
    try c.encode(fanInFanOut, forKey: .fanInFanOut)
    try c.encode(true, forKey: .inferenceMode)
    try c.encode(true, forKey: .initLoRAWeights)
    try c.encode(layerReplication, forKey: .layerReplication)
    try c.encode(layersPattern, forKey: .layersPattern)
    try c.encode(layersToTransform, forKey: .layersToTransform)
    try c.encode(empty, forKey: .loftQConfig)
    try c.encode(alpha, forKey: .alpha)
    try c.encode(dropout, forKey: .dropout)
    try c.encode(none, forKey: .megatronConfig)
    try c.encode("megatron.core", forKey: .megatronCore)
    try c.encode(modulesToSave, forKey: .modulesToSave)
    try c.encode(peftType, forKey: .peftType)
    try c.encode(rank, forKey: .rank)
    try c.encode(rankPattern ?? .object(empty), forKey: .rankPattern)
    try c.encode(none, forKey: .revision)
    try c.encode(targetModules, forKey: .targetModules)
    try c.encode(taskType, forKey: .taskType)
    try c.encode(useDoRA, forKey: .useDoRA)
    try c.encode(useRSLoRA, forKey: .useRSLoRA)
  }
}
