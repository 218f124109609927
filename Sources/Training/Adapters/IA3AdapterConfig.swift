import Model

/// adapter_config.json of an (IA)³ adapter: PEFT's IA3Config, with down_proj among the feed-forward modules (scaled on
/// its input). Read from PEFT's files too; `IA3Set.load` refuses other targets.
/// ref: PEFT src/peft/tuners/ia3/config.py (IA3Config)
struct IA3AdapterConfig: Codable, Equatable {
  var peftType: String? = "IA3"
  var baseModel: String?
  var targetModules: AdapterModules?
  var feedforwardModules: AdapterModules?

  init(baseModel: String?) {
    self.baseModel = baseModel
    targetModules = .names(IA3Set.targets.map(\.moduleName))
    feedforwardModules = .names([ProjectionTarget.down.moduleName])
  }

  enum CodingKeys: String, CodingKey {
    case revision
    case peftType = "peft_type"
    case baseModel = "base_model_name_or_path"
    case targetModules = "target_modules"
    case feedforwardModules = "feedforward_modules"
    case autoMapping = "auto_mapping"
    case fanInFanOut = "fan_in_fan_out"
    case inferenceMode = "inference_mode"
    case initIA3Weights = "init_ia3_weights"
    case modulesToSave = "modules_to_save"
    case taskType = "task_type"
  }

  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    peftType = try c.decodeIfPresent(String.self, forKey: .peftType)
    baseModel = try c.decodeIfPresent(String.self, forKey: .baseModel)
    targetModules = AdapterModules.decodeIfPresent(c, forKey: .targetModules)
    feedforwardModules = AdapterModules.decodeIfPresent(c, forKey: .feedforwardModules)
  }

  /// Every field, nulls included, as PEFT's save_pretrained writes them.
  func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    let none: String? = nil
    try c.encode(none, forKey: .autoMapping)
    try c.encode(baseModel, forKey: .baseModel)
    try c.encode(false, forKey: .fanInFanOut)
    try c.encode(feedforwardModules, forKey: .feedforwardModules)
    try c.encode(true, forKey: .inferenceMode)
    try c.encode(true, forKey: .initIA3Weights)
    try c.encode(none, forKey: .modulesToSave)
    try c.encode(peftType, forKey: .peftType)
    try c.encode(none, forKey: .revision)
    try c.encode(targetModules, forKey: .targetModules)
    try c.encode("CAUSAL_LM", forKey: .taskType)
  }
}
