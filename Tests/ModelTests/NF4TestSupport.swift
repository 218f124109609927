import Formats
import Foundation
import Memory
import Testing

@testable import Model

/// A tiny fixture model converted to NF4 in a fresh temporary directory (removed after the body returns).
struct ConvertedTinyModel {
  /// The fixture it came from (Fixtures/tiny/<file>), loaded.
  var source: LanguageModel
  var golden: TinyGolden.Entry
  /// The .nf4 file and the directory it lives in (exports go beside it).
  var path: String
  var directory: String
  var result: NF4Converter.Result

  /// Converts Fixtures/tiny/`file` with `options` and runs `body` with the result.
  static func with<T>(
    _ file: String, options: NF4Converter.Options = .init(), _ body: (ConvertedTinyModel) throws -> T
  ) throws -> T {
    let (source, golden) = try TinyModelTests.load(file)
    let manager = FileManager.default
    let directory = manager.temporaryDirectory.appendingPathComponent("edgetune-nf4-\(UUID().uuidString)").path
    try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? manager.removeItem(atPath: directory) }
    let path = directory + "/" + file.replacingOccurrences(of: ".tiny-gguf", with: "") + ".nf4"
    let result = try NF4Converter.convert(source, to: path, options: options, ledger: MemoryLedger())
    return try body(
      ConvertedTinyModel(source: source, golden: golden, path: path, directory: directory, result: result))
  }

  /// The model as exported by `ModelExporter` from the NF4 file: a directory holding model.safetensors (F32) and
  /// its JSON files, or a .gguf file. Returns the path to load.
  func export(_ name: String, gguf: Bool = false, halfPrecision: Bool = false) throws -> String {
    let exporter = ModelExporter(model: try LanguageModel(path: path), type: halfPrecision ? .f16 : .f32)
    if gguf {
      let out = directory + "/" + name + ".gguf"
      try exporter.writeGGUF(to: out, ledger: MemoryLedger())
      return out
    }
    let out = directory + "/" + name
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    try exporter.writeSafetensors(to: out + "/model.safetensors", ledger: MemoryLedger())
    return out
  }
}

/// Logits at every position of `ids`: (ids.count, vocabulary).
func allLogits(_ model: LanguageModel, _ ids: [Int32]) throws -> [[Float]] {
  let session = try InferenceSession(model: model, capacity: ids.count, chunk: 16, ledger: MemoryLedger())
  var rows: [[Float]] = []
  try session.forward(ids, logits: .all) { _, logits in rows.append(Array(logits)) }
  return rows
}

/// ‖a − b‖₂ / ‖b‖₂ over all positions: the RMS difference relative to the RMS of the reference `b`.
func relativeRMSDifference(_ a: [[Float]], _ b: [[Float]]) -> Double {
  var difference = 0.0
  var reference = 0.0
  for (x, y) in zip(a, b) {
    for (u, v) in zip(x, y) {
      difference += (Double(u) - Double(v)) * (Double(u) - Double(v))
      reference += Double(v) * Double(v)
    }
  }
  return (difference / max(reference, .leastNormalMagnitude)).squareRoot()
}

/// Every value of a frozen matrix, row-major (small matrices only).
func decodedValues(_ m: any FrozenMatrix) -> [Float] {
  [Float](unsafeUninitializedCapacity: m.rows * m.cols) { buffer, initialized in
    m.decodeRows(0..<m.rows, into: buffer.baseAddress!)
    initialized = m.rows * m.cols
  }
}
