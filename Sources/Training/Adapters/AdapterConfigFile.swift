import Formats

/// adapter_config.json, as one Codable type per kind of adapter (`LoRAAdapterConfig`, `PromptTuningAdapterConfig`,
/// `IA3AdapterConfig`: PEFT's configs; `BottleneckAdapterConfig`, `SelectiveAdapterConfig`: EdgeTune's own), written
/// with sorted keys and a two-space indent as PEFT writes it, and read with `TrainingJSON.read` (errors name the file
/// and the key).
enum AdapterConfigFile {
  /// Writes `config` as adapter_config.json into `directory` (the temporary one `AdapterDirectory.save` hands out).
  static func write(_ config: some Encodable, in directory: String) throws {
    try TrainingJSON.write(config, to: directory + "/" + AdapterDirectory.configFileName, pretty: true)
  }

  /// What an adapter directory's config says it is, for choosing its loader before reading it in full.
  struct Kind: Decodable {
    /// "LORA", "PROMPT_TUNING", "IA3", "BOTTLENECK", "SELECTIVE"; nil when missing.
    var peftType: String?
    /// A selective result's tensors ("norms", "head", "last-layers").
    var tensors: String?
    /// A prompt-tuning adapter's length.
    var numVirtualTokens: Int?

    enum CodingKeys: String, CodingKey {
      case tensors
      case peftType = "peft_type"
      case numVirtualTokens = "num_virtual_tokens"
    }

    /// Each field on its own: one of an unexpected type is left nil (the full load names it) and hides no other.
    init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      peftType = (try? container.decodeIfPresent(String.self, forKey: .peftType)) ?? nil
      tensors = (try? container.decodeIfPresent(String.self, forKey: .tensors)) ?? nil
      numVirtualTokens = (try? container.decodeIfPresent(Int.self, forKey: .numVirtualTokens)) ?? nil
    }
  }

  /// `Kind` of the adapter in `directory`, or nil when its config is missing or not a JSON object.
  static func kind(in directory: String) -> Kind? {
    try? TrainingJSON.read(Kind.self, path: AdapterDirectory.trimmed(directory) + "/" + AdapterDirectory.configFileName)
  }
}

/// PEFT's target_modules (and IA3's feedforward_modules): a list of module names, or one string (a regular
/// expression, or "all-linear").
enum AdapterModules: Codable, Equatable {
  case names([String])
  case pattern(String)

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let text = try? container.decode(String.self) {
      self = .pattern(text)
    } else {
      self = .names(try container.decode([String].self))
    }
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .names(let names): try container.encode(names)
    case .pattern(let text): try container.encode(text)
    }
  }

  /// The module names, each reduced to its last component ("self_attn.q_proj" → "q_proj"); none for a pattern.
  var moduleNames: [String] {
    guard case .names(let names) = self else { return [] }
    return names.map { String($0.split(separator: ".").last ?? "") }
  }

  /// Decodes `key` leniently: nil when it is missing, null or neither a list of strings nor a string (the loaders
  /// refuse that with their own message).
  static func decodeIfPresent<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, forKey key: Key) -> Self? {
    (try? container.decodeIfPresent(Self.self, forKey: key)) ?? nil
  }
}
