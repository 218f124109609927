import Foundation
import Memory
import Testing

@testable import edgetune

/// Training teaches: SmolLM2-135M (the GGUF) cannot write dates as YYYY-MM-DD alone (Tools/data/dates; 1 of the first
/// 30 held-out prompts), and 30 steps of LoRA or of IA3 on the training half make it answer most of them exactly
/// (measured 27/30 and 29/30). Exact match of greedy answers by `edgetune eval`, the same prompts before and after.
/// A short version of Tools/demo (3% → 88% in 60 steps at --seq-len 256): rows of 128 tokens, higher learning rates.
@Suite struct LearningTests {
  static let data = BudgetTests.repository.appendingPathComponent("Tools/data/dates").path
  /// Held-out prompts scored (the first of heldout.jsonl).
  static let heldOut = 30

  /// Exact match of greedy answers to the held-out prompts, with `adapter` when given.
  static func accuracy(adapter: String?) throws -> Double {
    let result = try CLI.run(
      [
        "eval", "--model", CLI.modelPath, "--data", data + "/heldout.jsonl", "--limit", "\(heldOut)", "--json",
      ] + (adapter.map { ["--adapter", $0] } ?? []))
    guard result.status == 0 else { throw CLIError.notJSON(result.stderr) }
    return try result.decoded(CommandReport<Eval.DatasetResult>.self).result.exactMatch
  }

  /// The base model's accuracy, measured once for both methods.
  static let before = Result { try accuracy(adapter: nil) }

  @Test(.enabled(if: CLI.haveModel), arguments: [("lora", "2e-3"), ("ia3", "2e-2")])
  func thirtyStepsTeachTheDateTask(method: String, learningRate: String) throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let adapter = dir.appendingPathComponent(method).path
    let start = ContinuousClock.now
    let trained = try CLI.run([
      "train", method, "--model", CLI.modelPath, "--data", Self.data + "/train.jsonl", "--val-fraction", "0",
      "--steps", "30", "--seq-len", "128", "--lr", learningRate, "--out", adapter,
    ])
    try #require(trained.status == 0, "\(trained.stderr)")
    let after = try Self.accuracy(adapter: adapter)
    let before = try Self.before.get()
    print(
      "LearningTests \(method): held-out exact match \(before) → \(after) after 30 steps "
        + "(\(Int((ContinuousClock.now - start) / .seconds(1))) s to train and evaluate)")
    #expect(before <= 0.1, "the base model already does the task: \(before)")
    #expect(after >= 0.7, "\(method) did not learn the task in 30 steps: \(before) → \(after)")
  }
}
