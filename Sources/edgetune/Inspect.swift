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

  @Flag(
    help: ArgumentHelp(
      "Recompute every tensor's checksum, and the metadata's, and compare them with those the file records "
        + "(safetensors files EdgeTune wrote: NF4 models, exported models, adapters)."))
  var verify = false

  /// The config.json a Hugging Face .safetensors file needs beside it to be a model.
  static func configBeside(_ file: String) -> String {
    ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent("config.json")
  }

  func validate() throws {
    guard limit >= 0 else { throw ValidationError("--limit must be 0 or more, got \(limit)") }
  }

  func run() throws {
    if verify {
      // Every safetensors file EdgeTune writes carries checksums (NF4 models, exported models, adapters).
      guard !GGUFFile.hasMagic(atPath: file) else {
        throw InputError(
          "\(file): --verify checks the checksums EdgeTune records in the safetensors files it writes; GGUF files "
            + "carry none")
      }
      let safetensors = try SafetensorsFile(path: file)
      let bar = ProgressBar("verify", total: safetensors.entries.count)
      let count = try safetensors.verifyChecksums { done, _ in bar.update(done) }
      bar.finish()
      Output.diagnostic("\(file): all \(count) tensor checksums match")
      // An adapter's weights verify too, but are no model: there is no table to show.
      guard LanguageModel.isNF4(file) || FileManager.default.fileExists(atPath: Self.configBeside(file)) else {
        return
      }
    }
    let summary = try ModelFileSummary(path: file)
    if json {
      try Output.json(summary.document)
    } else {
      Output.result(summary.table(limit: limit))
    }
  }
}

/// The text table `inspect` prints.
extension ModelFileSummary {
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

extension Inspect {
  /// `inspect --json`'s document (the library's type; tests decode it by this name).
  typealias Result = ModelFileSummary.Document
}
