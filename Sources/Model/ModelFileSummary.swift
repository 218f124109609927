import Formats
public import Foundation

/// What a model file holds, read without decoding any tensor (GGUF, NF4, a .safetensors file or a Hugging Face
/// directory): its format, size, metadata and every tensor's shape, type and bytes. `edgetune inspect` prints it.
public struct ModelFileSummary {
  public struct Tensor {
    public var name: String
    public var shape: [Int]
    public var type: String
    public var bytes: Int?
    public var elements: Int { shape.reduce(1, *) }
  }

  public var path: String
  public var format: String
  public var version: Int?
  public var fileBytes: Int
  public var metadata: [(String, String)]
  public var tensors: [Tensor]

  public init(path: String) throws {
    self.path = path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw FormatError.missingFile(path: path, reason: "no such file or directory")
    }
    if !isDirectory.boolValue && LanguageModel.isNF4(path) {
      let nf4 = try NF4ModelFile(path: path)
      format = "nf4"
      version = Int(nf4.file.metadata["edgetune.version"] ?? "")
      fileBytes = nf4.file.fileSize
      metadata = nf4.file.metadata.keys.sorted().map { key in
        let value = nf4.file.metadata[key]!
        return (key, value.count > 200 ? "(\(value.count) characters)" : value)
      }
      let parts = [".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map", NF4ModelFile.quantStateSuffix]
      tensors = try nf4.file.entries.compactMap { entry in
        if nf4.isQuantized(entry.name) {
          let q = try nf4.quantized(entry.name)
          return Tensor(name: entry.name, shape: q.shape, type: "NF4", bytes: q.storageBytes)
        }
        if parts.contains(where: { entry.name.hasSuffix($0) && nf4.isQuantized(String(entry.name.dropLast($0.count))) })
        {
          return nil
        }
        return Tensor(name: entry.name, shape: entry.shape, type: entry.dtype, bytes: entry.range.count)
      }
    } else if isDirectory.boolValue || path.hasSuffix(".safetensors") || path.hasSuffix(".json") {
      let directory = try HFModelDirectory(
        path: isDirectory.boolValue
          ? path : (path.hasSuffix(".json") ? (path as NSString).deletingLastPathComponent : path))
      format = "safetensors"
      version = nil
      fileBytes = directory.shards.reduce(0) { $0 + $1.fileSize }
      metadata = directory.config.keys.sorted().map { ($0, "\(directory.config[$0]!)") }
      for shard in directory.shards {
        metadata += shard.metadata.keys.sorted().map { ("__metadata__.\($0)", shard.metadata[$0]!) }
      }
      tensors = directory.shards.flatMap { shard in
        shard.entries.map { Tensor(name: $0.name, shape: $0.shape, type: $0.dtype, bytes: $0.range.count) }
      }
    } else {
      let gguf = try GGUFFile(path: path)
      format = "gguf"
      version = gguf.version
      fileBytes = gguf.fileSize
      metadata = gguf.metadataKeys.map { ($0, gguf.metadata[$0]!.summary) }
      tensors = gguf.tensors.map { Tensor(name: $0.name, shape: $0.shape, type: $0.typeName, bytes: $0.byteCount) }
    }
  }

  public var totalElements: Int { tensors.reduce(0) { $0 + $1.elements } }
  public var totalTensorBytes: Int { tensors.reduce(0) { $0 + ($1.bytes ?? 0) } }
  public var bitsPerWeight: Double { totalElements > 0 ? Double(totalTensorBytes * 8) / Double(totalElements) : 0 }

  public var typeCounts: [String: Int] { tensors.reduce(into: [:]) { $0[$1.type, default: 0] += 1 } }

  /// The summary as `inspect --json` prints it.
  public var document: Document {
    Document(
      path: path, format: format, version: version, fileBytes: fileBytes, parameters: totalElements,
      tensorBytes: totalTensorBytes, bitsPerWeight: bitsPerWeight,
      metadata: Dictionary(metadata, uniquingKeysWith: { a, _ in a }), tensorTypes: typeCounts,
      tensors: tensors.map { t in
        .init(
          name: t.name, shape: t.shape, type: t.type, bytes: t.bytes,
          bitsPerWeight: t.bytes.map { Double($0 * 8) / Double(max(t.elements, 1)) })
      })
  }
}
