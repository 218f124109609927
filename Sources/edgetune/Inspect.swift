import ArgumentParser
import Formats
import Foundation
import Memory
import Model

/// `edgetune inspect FILE`: what a model file holds, without decoding any tensor.
struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show a model file's metadata, tensors, types, sizes and bits per weight.")

  @Argument(help: "A GGUF file, a .safetensors file or a Hugging Face model directory.")
  var file: String

  @Flag(help: "Print JSON on stdout instead of a table.")
  var json = false

  @Option(help: "Show at most this many tensors in the table (all in JSON).")
  var limit: Int = 40

  @Flag(help: "Recompute every tensor's checksum and compare it with the one recorded in the file (NF4 files).")
  var verify = false

  func run() throws {
    if verify {
      guard LanguageModel.isNF4(file) else {
        throw InputError("\(file): --verify checks the per-tensor checksums of EdgeTune NF4 files; this file has none")
      }
      let nf4 = try NF4ModelFile(path: file)
      let bar = ProgressBar("verify", total: nf4.file.entries.count)
      let count = try nf4.verifyChecksums { done, _ in bar.update(done) }
      bar.finish()
      Output.diagnostic("\(file): all \(count) tensor checksums match")
    }
    let summary = try ModelFileSummary(path: file)
    if json {
      try Output.json(summary.json)
    } else {
      Output.result(summary.table(limit: limit))
    }
  }
}

/// The format-independent facts `inspect` shows.
struct ModelFileSummary {
  struct Tensor {
    var name: String
    var shape: [Int]
    var type: String
    var bytes: Int?
    var elements: Int { shape.reduce(1, *) }
  }

  var path: String
  var format: String
  var version: Int?
  var fileBytes: Int
  var metadata: [(String, String)]
  var tensors: [Tensor]

  init(path: String) throws {
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

  var totalElements: Int { tensors.reduce(0) { $0 + $1.elements } }
  var totalTensorBytes: Int { tensors.reduce(0) { $0 + ($1.bytes ?? 0) } }
  var bitsPerWeight: Double { totalElements > 0 ? Double(totalTensorBytes * 8) / Double(totalElements) : 0 }

  var typeCounts: [String: Int] { tensors.reduce(into: [:]) { $0[$1.type, default: 0] += 1 } }

  var json: Inspect.Result {
    Inspect.Result(
      path: path, format: format, version: version, fileBytes: fileBytes, parameters: totalElements,
      tensorBytes: totalTensorBytes, bitsPerWeight: bitsPerWeight,
      metadata: Dictionary(metadata, uniquingKeysWith: { a, _ in a }), tensorTypes: typeCounts,
      tensors: tensors.map { t in
        .init(
          name: t.name, shape: t.shape, type: t.type, bytes: t.bytes,
          bitsPerWeight: t.bytes.map { Double($0 * 8) / Double(max(t.elements, 1)) })
      })
  }

  func table(limit: Int) -> String {
    var lines: [String] = []
    lines.append("\(path): \(format)\(version.map { " v\($0)" } ?? ""), \(ByteCount.format(fileBytes))")
    lines.append(
      "\(tensors.count) tensors, \(totalElements) parameters, \(ByteCount.format(totalTensorBytes)) of tensor data, "
        + String(format: "%.3f", bitsPerWeight) + " bits per weight")
    lines.append(
      "types: " + typeCounts.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
    lines.append("")
    lines.append("metadata:")
    for (key, value) in metadata { lines.append("  \(key) = \(value)") }
    lines.append("")
    lines.append("tensors:")
    let nameWidth = min(48, tensors.map(\.name.count).max() ?? 0)
    for t in tensors.prefix(limit) {
      let bits = t.bytes.map { String(format: "%6.3f bpw", Double($0 * 8) / Double(max(t.elements, 1))) } ?? "   ? bpw"
      lines.append(
        "  " + t.name.padding(toLength: max(nameWidth, t.name.count), withPad: " ", startingAt: 0) + "  "
          + t.type.padding(toLength: 6, withPad: " ", startingAt: 0) + "  " + bits + "  \(t.shape)")
    }
    if tensors.count > limit { lines.append("  ... \(tensors.count - limit) more (--limit N or --json for all)") }
    return lines.joined(separator: "\n")
  }
}
