import Foundation
import Memory

/// A Hugging Face model directory: config.json, tokenizer.json (+ tokenizer_config.json for the chat template), and
/// weights in one `model.safetensors` or shards listed by `model.safetensors.index.json`. A path to a single
/// .safetensors file is accepted too, with the JSON files looked up beside it.
public final class HFModelDirectory: @unchecked Sendable {
  // @unchecked Sendable: immutable after init.
  public let directory: String
  public let config: [String: Any]
  public let configPath: String
  /// Raw bytes of tokenizer.json, if present (the tokenizer parses them).
  public let tokenizerJSON: [UInt8]?
  public let tokenizerPath: String
  public let chatTemplate: String?
  public let shards: [SafetensorsFile]
  private let shardOfTensor: [String: Int]

  public init(path: String) throws {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw FormatError.missingFile(path: path, reason: "no such file or directory")
    }
    let directory = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
    let dir = directory.isEmpty ? "." : directory
    func inDir(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    self.directory = dir
    self.configPath = inDir("config.json")
    guard FileManager.default.fileExists(atPath: configPath) else {
      throw FormatError.missingFile(
        path: configPath, reason: "a Hugging Face model needs config.json beside its weights")
    }
    self.config = try JSONFile.object(path: configPath)

    self.tokenizerPath = inDir("tokenizer.json")
    if FileManager.default.fileExists(atPath: tokenizerPath) {
      let file = try MappedFile(path: tokenizerPath)
      self.tokenizerJSON = Array(file.bytes)
    } else {
      self.tokenizerJSON = nil
    }
    let tokenizerConfigPath = inDir("tokenizer_config.json")
    if FileManager.default.fileExists(atPath: tokenizerConfigPath) {
      let object = try JSONFile.object(path: tokenizerConfigPath)
      self.chatTemplate = try object.optionalString("chat_template", path: tokenizerConfigPath)
    } else {
      self.chatTemplate = nil
    }

    var shardPaths: [String] = []
    if !isDirectory.boolValue {
      shardPaths = [path]
    } else if FileManager.default.fileExists(atPath: inDir("model.safetensors.index.json")) {
      let indexPath = inDir("model.safetensors.index.json")
      let index = try JSONFile.object(path: indexPath)
      guard let map = index["weight_map"] as? [String: Any] else {
        throw FormatError.invalidMetadata(path: indexPath, key: "weight_map", reason: "missing or not an object")
      }
      var names = Set<String>()
      for (tensor, file) in map {
        guard let file = file as? String, !file.contains("/") else {
          throw FormatError.invalidMetadata(
            path: indexPath, key: "weight_map.\(tensor)", reason: "not a file name in this directory")
        }
        names.insert(file)
      }
      shardPaths = names.sorted().map(inDir)
    } else if FileManager.default.fileExists(atPath: inDir("model.safetensors")) {
      shardPaths = [inDir("model.safetensors")]
    } else {
      throw FormatError.missingFile(
        path: dir, reason: "no model.safetensors or model.safetensors.index.json in this directory")
    }
    for shard in shardPaths where !FileManager.default.fileExists(atPath: shard) {
      throw FormatError.missingFile(path: shard, reason: "weight shard listed in the index is missing")
    }
    let shards = try shardPaths.map { try SafetensorsFile(path: $0) }
    var owner: [String: Int] = [:]
    for (i, shard) in shards.enumerated() {
      for entry in shard.entries {
        if owner.updateValue(i, forKey: entry.name) != nil {
          throw FormatError.invalidHeader(
            path: shard.path, offset: 8, reason: "tensor '\(entry.name)' appears in two shards")
        }
      }
    }
    self.shards = shards
    self.shardOfTensor = owner
  }

  public var tensorNames: [String] { shardOfTensor.keys.sorted() }

  public func contains(_ name: String) -> Bool { shardOfTensor[name] != nil }

  public func tensor(_ name: String) throws(FormatError) -> TensorView {
    guard let shard = shardOfTensor[name] else { throw .missingTensor(path: directory, tensor: name) }
    return try shards[shard].tensor(name)
  }

  /// The file holding `name`, for page advice.
  public func shard(of name: String) -> SafetensorsFile? { shardOfTensor[name].map { shards[$0] } }

  /// config.json with accessors whose errors name the file.
  public var configObject: JSONObject { JSONObject(values: config, path: configPath) }
  public var architectures: [String] { config["architectures"] as? [String] ?? [] }
}
