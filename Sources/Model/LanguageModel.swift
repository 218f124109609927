public import Formats
import Foundation

/// A loaded model: its configuration, frozen weights (views into mapped files), tokenizer and chat template.
/// Holds the file objects, so every weight view stays valid for the life of this object.
public final class LanguageModel: Sendable {
  public enum SourceFormat: String, Sendable { case gguf, safetensors, nf4 }

  public let path: String
  public let format: SourceFormat
  public let config: ModelConfig
  public let weights: ModelWeights
  public let tokenizer: BPETokenizer
  public let chatTemplate: ChatTemplate
  /// End-of-sequence token: the tokenizer's (GGUF), else the NF4 file's record of it, else config.json's.
  public let eosID: Int32?
  /// Padding token, found the same way (training batches use it later).
  public let paddingID: Int32?
  /// Which weight pages stay in the process (all, or a streamed window when the budget is smaller than the model).
  public let residency: WeightResidency
  /// The GGUF file or HF directory whose mappings the weights point into (kept alive here).
  private let owner: any Sendable

  /// Opens a GGUF file, a .safetensors file (with config.json and tokenizer.json beside it) or a Hugging Face
  /// model directory. Nothing is decoded but the small norm vectors: matrices stay in the mapping.
  public init(path: String) throws {
    self.path = path
    self.residency = WeightResidency()
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw FormatError.missingFile(path: path, reason: "no such file or directory")
    }
    if !isDirectory.boolValue && Self.isNF4(path) {
      let file = try NF4ModelFile(path: path)
      let config = try ModelConfig(huggingFace: file.config, hasSeparateHead: file.contains("lm_head.weight"))
      self.format = .nf4
      self.config = config
      self.tokenizer = try BPETokenizer(tokenizerJSON: file.tokenizerJSON, source: path + " (edgetune.tokenizer)")
      self.chatTemplate = try Self.template(file.chatTemplate)
      self.weights = try NF4WeightSource(file: file).loadWeights(config: config)
      self.owner = file
      let ids = file.specialTokenIDs
      self.eosID = tokenizer.eosID ?? ids["eos"]
      self.paddingID = tokenizer.paddingID ?? ids["padding"]
    } else if isDirectory.boolValue || path.hasSuffix(".safetensors") {
      let directory = try HFModelDirectory(path: path)
      let config = try ModelConfig(huggingFace: directory)
      guard let json = directory.tokenizerJSON else {
        throw ModelError.missingTokenizer(path: directory.tokenizerPath, reason: "tokenizer.json is missing")
      }
      self.format = .safetensors
      self.config = config
      self.tokenizer = try BPETokenizer(tokenizerJSON: json, source: directory.tokenizerPath)
      self.chatTemplate = try Self.template(directory.chatTemplate)
      self.weights = try HFWeightSource(directory: directory).loadWeights(config: config)
      self.owner = directory
      let eos = directory.config["eos_token_id"]
      self.eosID = tokenizer.eosID ?? ((eos as? Int) ?? (eos as? [Int])?.first).map { Int32($0) }
      self.paddingID = tokenizer.paddingID ?? (directory.config["pad_token_id"] as? Int).map { Int32($0) }
    } else {
      let file = try GGUFFile(path: path)
      let config = try ModelConfig(gguf: file)
      self.format = .gguf
      self.config = config
      self.tokenizer = try Self.tokenizer(gguf: file)
      self.chatTemplate = try Self.template(file.metadata["tokenizer.chat_template"]?.string)
      self.weights = try GGUFWeightSource(file: file).loadWeights(config: config)
      self.owner = file
      self.eosID = tokenizer.eosID
      self.paddingID = tokenizer.paddingID
    }
    guard tokenizer.vocabularySize <= config.vocabularySize else {
      throw ModelError.invalidConfig(
        path: path,
        reason:
          "the tokenizer has \(tokenizer.vocabularySize) tokens but the model only \(config.vocabularySize) embeddings")
    }
  }

  /// The same model with other frozen weights (a merged adapter, for example); files stay shared and mapped.
  /// `untiedHead`: the weights carry their own output head (a trained copy of a tied embedding), written out as
  /// lm_head.weight.
  public init(_ model: LanguageModel, weights: ModelWeights, untiedHead: Bool = false) {
    self.path = model.path
    self.format = model.format
    var config = model.config
    if untiedHead { config.tiedEmbeddings = false }
    self.config = config
    self.weights = weights
    self.tokenizer = model.tokenizer
    self.chatTemplate = model.chatTemplate
    self.eosID = model.eosID
    self.paddingID = model.paddingID
    self.owner = model.owner
    self.residency = model.residency
  }

  /// A `.nf4` file, or a `.safetensors` file whose metadata says it is an EdgeTune NF4 model.
  public static func isNF4(_ path: String) -> Bool {
    if path.hasSuffix(".nf4") { return true }
    guard path.hasSuffix(".safetensors"), let file = try? SafetensorsFile(path: path) else { return false }
    return file.metadata["edgetune.format"] == NF4ModelFile.formatName
  }

  /// Drops this process's pages of a frozen matrix from the mapping (the kernel keeps them in the page cache), so a
  /// pass that reads each weight once (convert, export) does not accumulate the whole file in its resident set.
  public func dropPages(of matrix: any FrozenMatrix) { advise(matrix, range: matrix.fileRange, willNeed: false) }

  /// madvise on the mapping that holds `matrix`: WILLNEED starts readahead, DONTNEED drops the process's pages.
  func advise(_ matrix: any FrozenMatrix, range: Range<Int>, willNeed: Bool) {
    switch owner {
    case let file as GGUFFile:
      willNeed ? file.adviseWillNeed(range) : file.adviseDontNeed(range)
    case let file as NF4ModelFile:
      willNeed ? file.file.adviseWillNeed(range) : file.file.adviseDontNeed(range)
    case let directory as HFModelDirectory:
      guard let shard = directory.shard(of: matrix.name) else { return }
      willNeed ? shard.adviseWillNeed(range) : shard.adviseDontNeed(range)
    default: break
    }
  }

  /// The NF4 file behind the weights, when the model came from one.
  public var nf4File: NF4ModelFile? { owner as? NF4ModelFile }

  /// The GGUF file behind the weights, when the model came from one.
  public var ggufFile: GGUFFile? { owner as? GGUFFile }

  /// Bytes of all frozen matrices as stored.
  public var weightStorageBytes: Int {
    var total = weights.embedding.storageBytes
    if !config.tiedEmbeddings { total += weights.head.storageBytes }
    for layer in weights.layers { total += layer.matrices.reduce(0) { $0 + $1.storageBytes } }
    return total
  }

  /// The tokenizer described by GGUF `tokenizer.ggml.*` metadata (byte-level BPE, "gpt2" model).
  static func tokenizer(gguf: GGUFFile) throws -> BPETokenizer {
    guard let kind = gguf.metadata["tokenizer.ggml.model"]?.string else {
      throw ModelError.missingTokenizer(path: gguf.path, reason: "metadata has no tokenizer.ggml.model")
    }
    guard kind == "gpt2" else {
      throw ModelError.missingTokenizer(
        path: gguf.path, reason: "tokenizer model '\(kind)' is not supported (supported: gpt2 byte-level BPE)")
    }
    let preName = gguf.metadata["tokenizer.ggml.pre"]?.string ?? "gpt2"
    let pre: PreTokenizerKind
    switch preName {
    case "smollm": pre = .smollm
    case "qwen2": pre = .qwen2
    case "llama3", "llama-bpe": pre = .llama3
    case "gpt2", "default": pre = .gpt2
    default:
      throw ModelError.missingTokenizer(
        path: gguf.path, reason: "pre-tokenizer '\(preName)' is not supported (supported: gpt2, smollm, qwen2, llama3)")
    }
    let types =
      gguf.metadata["tokenizer.ggml.token_type"] != nil
      ? try gguf.intArray("tokenizer.ggml.token_type").map { Int32(truncatingIfNeeded: $0) } : nil
    func id(_ key: String) -> Int32? { gguf.metadata[key]?.int.map { Int32(truncatingIfNeeded: $0) } }
    return try BPETokenizer(
      tokens: try gguf.stringArray("tokenizer.ggml.tokens"), merges: try gguf.stringArray("tokenizer.ggml.merges"),
      tokenTypes: types, preTokenizer: pre, bosID: id("tokenizer.ggml.bos_token_id"),
      eosID: id("tokenizer.ggml.eos_token_id"),
      unknownID: id("tokenizer.ggml.unknown_token_id"), paddingID: id("tokenizer.ggml.padding_token_id"),
      addBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false, source: gguf.path)
  }

  /// The model's chat template, or plain ChatML when the file has none.
  static func template(_ jinja: String?) throws -> ChatTemplate {
    guard let jinja else { return .chatML(defaultSystem: nil) }
    return try ChatTemplate(jinja: jinja)
  }

  /// Tokens of a prompt: BOS when the model asks for it, then the text with special tokens parsed.
  public func encodePrompt(_ text: String) -> [Int32] {
    var ids: [Int32] = []
    if tokenizer.addBOS, let bos = tokenizer.bosID { ids.append(bos) }
    ids += tokenizer.encode(text)
    return ids
  }
}
