import Foundation
import Testing

/// A training run killed with SIGKILL (no chance to clean up) loses nothing it had saved: every checkpoint directory
/// under its final name is complete, and resuming from the last one continues exactly as the uninterrupted run did
/// (bit-identical result files). Every method on the tiny llama fixture, killed right after a checkpoint and halfway
/// through the next step (PPO: halfway through a batch, which resumes from the batch's start); LoRA also on SmolLM2.
@Suite struct InterruptedTrainingTests {
  static let dates = BudgetTests.repository.appendingPathComponent("Tools/data/dates/train.jsonl").path

  enum Method: String, CaseIterable, Sendable {
    case lora, prompt, adapter, ia3, selective, reward, dpo, ppo
  }

  /// A reward model for PPO to score with (one step on the tiny base), made once.
  static let rewardModel: Result<String, any Error> = Result {
    let dir = try CLI.temporaryDirectory()
    let rm = dir.appendingPathComponent("rm").path
    let trained = try CLI.run([
      "train", "reward", "-m", RLHFTests.tiny, "--data", RLHFTests.signoff + "/train.jsonl", "--val-fraction", "0",
      "--steps", "1", "--seq-len", "64", "--out", rm,
    ])
    guard trained.status == 0 else { throw CLIError.notJSON(trained.stderr) }
    return rm
  }

  /// `method`'s command on the tiny fixture, a constant learning rate (so the runs' schedules agree whatever --steps
  /// is), and its optimizer steps per --steps unit.
  static func command(_ method: Method) throws -> (arguments: [String], stepsPerUnit: Int) {
    let base = ["train", method.rawValue, "--model", RLHFTests.tiny, "--schedule", "constant"]
    let text = ["--data", dates, "--val-fraction", "0", "--seq-len", "48"]
    let pairs = [
      "--data", RLHFTests.signoff + "/train.jsonl", "--val-fraction", "0", "--seq-len", "64", "--batch", "2",
    ]
    switch method {
    case .lora, .adapter, .ia3: return (base + text, 1)
    case .prompt: return (base + text + ["--virtual-tokens", "4"], 1)
    case .selective: return (base + text + ["--tensors", "norms"], 1)
    case .reward, .dpo: return (base + pairs, 1)
    case .ppo:
      let ppo = [
        "--reward", try rewardModel.get(), "--prompts", RLHFTests.signoff + "/prompts-train.jsonl", "--rollouts", "2",
        "--mini-batch", "1", "--ppo-epochs", "2", "--max-new-tokens", "6", "--seq-len", "128",
      ]
      return (base + ppo, 4)
    }
  }

  @Test(arguments: Method.allCases, KilledRun.KillPoint.allCases)
  func killedRunResumesExactly(method: Method, point: KilledRun.KillPoint) throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let (arguments, stepsPerUnit) = try Self.command(method)
    let run = KilledRun(command: arguments, stepsPerUnit: stepsPerUnit, directory: dir)
    try run.check(after: 2, at: point)
  }

  @Test(.enabled(if: CLI.haveModel)) func killedLoRAOnTheRealModelResumesExactly() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let run = KilledRun(
      command: [
        "train", "lora", "--model", nf4, "--data", BudgetTests.data, "--val-fraction", "0", "--seq-len", "64",
        "--schedule", "constant",
      ], directory: dir)
    try run.check(after: 3, at: .atCheckpoint)
  }
}
