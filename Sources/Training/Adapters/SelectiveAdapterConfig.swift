/// adapter_config.json of a selective result (EdgeTune's own, `peft_type: "SELECTIVE"`): which tensors trained
/// (`"norms"`, `"head"`, `"last-layers"`) and the shape of the model they fit; each kind writes the sizes it checks.
struct SelectiveAdapterConfig: Codable, Equatable {
  var peftType: String? = SelectiveFiles.peftType
  var baseModel: String?
  /// "norms", "head" or "last-layers".
  var tensors: String?
  var hiddenSize: Int?
  var numLayers: Int?
  /// last-layers: how many of the last layers trained.
  var layers: Int?
  var vocabSize: Int?

  enum CodingKeys: String, CodingKey {
    case tensors, layers
    case peftType = "peft_type"
    case baseModel = "base_model_name_or_path"
    case hiddenSize = "hidden_size"
    case numLayers = "num_layers"
    case vocabSize = "vocab_size"
  }

  /// A missing base model as null (as PEFT writes it); sizes a kind does not use are left out.
  func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(peftType, forKey: .peftType)
    try c.encode(baseModel, forKey: .baseModel)
    try c.encode(tensors, forKey: .tensors)
    try c.encodeIfPresent(hiddenSize, forKey: .hiddenSize)
    try c.encodeIfPresent(numLayers, forKey: .numLayers)
    try c.encodeIfPresent(layers, forKey: .layers)
    try c.encodeIfPresent(vocabSize, forKey: .vocabSize)
  }
}
