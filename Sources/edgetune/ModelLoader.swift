import Formats
import Foundation
import Memory
import Model

/// Opening models for the CLI, with a line on stderr about what was loaded.
enum ModelLoader {
  static func load(path: String) throws -> LanguageModel {
    let start = ContinuousClock.now
    let model = try LanguageModel(path: path)
    // Loading parses JSON and builds the tokenizer's tables: give the freed heap back before the run starts.
    MallocTuning.trim()
    let c = model.config
    Output.diagnostic(
      "loaded \(path) (\(model.format.rawValue), \(c.architecture.rawValue), \(c.layerCount) layers, hidden \(c.hiddenSize), "
        + "vocabulary \(c.vocabularySize)) in " + String(format: "%.2f s", (ContinuousClock.now - start).seconds))
    return model
  }

  /// Only the tokenizer: for GGUF files this skips the weights entirely.
  static func tokenizer(path: String) throws -> BPETokenizer {
    try LanguageModel(path: path).tokenizer
  }
}
