import Foundation
import Model
import Training

/// Models and files the data-pipeline tests share.
enum DataFixtures {
  static let environment = ProcessInfo.processInfo.environment
  static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  static let fixtures = here.appendingPathComponent("Fixtures")
  /// The tiny Qwen2 HF directory of the model tests: ChatML template, byte-level tokenizer, EOS `<|im_end|>`.
  static let tinyPath = here.deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures/tiny/qwen2-hf")
    .path
  static let tiny: Result<LanguageModel, any Error> = Result { try LanguageModel(path: tinyPath) }
  static func tinyModel() throws -> LanguageModel { try tiny.get() }

  /// The SmolLM2 GGUF the model tests use (same environment variables); tests using it skip when it is absent,
  /// unless EDGETUNE_REQUIRE_MODEL=1.
  static let cache = environment["EDGETUNE_CACHE"] ?? (NSHomeDirectory() + "/.cache/edgetune")
  static let ggufPath = environment["EDGETUNE_MODEL"] ?? cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
  static var haveGGUF: Bool {
    environment["EDGETUNE_REQUIRE_MODEL"] == "1" || FileManager.default.fileExists(atPath: ggufPath)
  }
  static let gguf: Result<LanguageModel, any Error> = Result { try LanguageModel(path: ggufPath) }
  static func smolLM2() throws -> LanguageModel { try gguf.get() }

  /// Writes `text` to a fresh temporary file and returns its path.
  static func temporaryFile(_ text: String, name: String = "data.jsonl") throws -> String {
    try temporaryFile(bytes: Array(text.utf8), name: name)
  }

  static func temporaryFile(bytes: [UInt8], name: String = "data.jsonl") throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("edgetune-data-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
  }

  /// One JSONL line from a JSON-compatible value.
  static func line(_ object: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
  }

  /// The text of the tokens whose mask is on, one string per contiguous run.
  static func maskedRuns(_ example: TrainingExample, _ tokenizer: BPETokenizer) -> [String] {
    var runs: [String] = []
    var current: [Int32] = []
    for (token, on) in zip(example.tokens, example.lossMask) {
      if on {
        current.append(token)
      } else if !current.isEmpty {
        runs.append(tokenizer.decode(current))
        current = []
      }
    }
    if !current.isEmpty { runs.append(tokenizer.decode(current)) }
    return runs
  }

  /// An in-memory dataset of `count` examples whose tokens say where they come from: example i of tag k is
  /// `[k, i, i + 1, ...]` with `length(i)` tokens, all trained.
  static func taggedDataset(tag: Int32, count: Int, length: (Int) -> Int = { 3 + $0 % 5 }) -> JSONLDataset {
    let examples = (0..<count).map { i in
      let n = length(i)
      let tokens = [tag] + (0..<(n - 1)).map { Int32(i * 100 + $0) }
      return TrainingExample(tokens: tokens, lossMask: Array(repeating: true, count: n))
    }
    return JSONLDataset(path: "tag\(tag)", examples: examples)
  }
}
