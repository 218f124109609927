/// adapter_config.json of bottleneck adapters: AdapterHub's BnConfig fields (`mh_adapter` for the adapter after
/// attention, `output_adapter` for the one after the MLP, `reduction_factor`, `non_linearity`) plus
/// `peft_type: "BOTTLENECK"` so EdgeTune's loaders tell it apart (PEFT has no such type and will refuse it).
/// ref: AdapterHub adapters src/adapters/configuration/adapter_config.py (BnConfig)
struct BottleneckAdapterConfig: Codable, Equatable {
  var peftType: String? = BottleneckAdapterSet.peftType
  var baseModel: String?
  /// houlsby or pfeiffer.
  var architecture: String?
  var reductionFactor: Int
  /// "swish" (SiLU) or "relu".
  var nonLinearity: String?
  var bottleneckSize: Int?
  var hiddenSize: Int?
  var numLayers: Int?
  var mhAdapter: Bool?
  var outputAdapter: Bool?

  init(_ set: BottleneckAdapterSet, baseModel: String?) {
    let placements = set.config.architecture.placements
    self.baseModel = baseModel
    architecture = set.config.architecture.rawValue
    reductionFactor = set.config.reductionFactor
    nonLinearity = set.config.activation == .silu ? "swish" : "relu"
    bottleneckSize = set.size
    hiddenSize = set.model.hiddenSize
    numLayers = set.model.layerCount
    mhAdapter = placements.contains(.attention)
    outputAdapter = placements.contains(.mlp)
  }

  enum CodingKeys: String, CodingKey {
    case architecture
    case peftType = "peft_type"
    case baseModel = "base_model_name_or_path"
    case reductionFactor = "reduction_factor"
    case nonLinearity = "non_linearity"
    case bottleneckSize = "bottleneck_size"
    case hiddenSize = "hidden_size"
    case numLayers = "num_layers"
    case mhAdapter = "mh_adapter"
    case outputAdapter = "output_adapter"
    case initWeights = "init_weights"
    case residualBeforeLN = "residual_before_ln"
  }

  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    peftType = try c.decodeIfPresent(String.self, forKey: .peftType)
    baseModel = try c.decodeIfPresent(String.self, forKey: .baseModel)
    architecture = try c.decodeIfPresent(String.self, forKey: .architecture)
    reductionFactor = try c.decode(Int.self, forKey: .reductionFactor)
    nonLinearity = try c.decodeIfPresent(String.self, forKey: .nonLinearity)
    bottleneckSize = try c.decodeIfPresent(Int.self, forKey: .bottleneckSize)
    hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize)
    numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers)
    mhAdapter = try c.decodeIfPresent(Bool.self, forKey: .mhAdapter)
    outputAdapter = try c.decodeIfPresent(Bool.self, forKey: .outputAdapter)
  }

  /// Every field, a missing base model as null; the initialization and residual placement EdgeTune always uses.
  func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(architecture, forKey: .architecture)
    try c.encode(baseModel, forKey: .baseModel)
    try c.encode(bottleneckSize, forKey: .bottleneckSize)
    try c.encode(hiddenSize, forKey: .hiddenSize)
    try c.encode("mam_adapter", forKey: .initWeights)
    try c.encode(mhAdapter, forKey: .mhAdapter)
    try c.encode(nonLinearity, forKey: .nonLinearity)
    try c.encode(numLayers, forKey: .numLayers)
    try c.encode(outputAdapter, forKey: .outputAdapter)
    try c.encode(peftType, forKey: .peftType)
    try c.encode(reductionFactor, forKey: .reductionFactor)
    try c.encode(true, forKey: .residualBeforeLN)
  }
}
