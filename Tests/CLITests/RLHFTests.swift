import Foundation
import Memory
import Testing

@testable import Training
@testable import edgetune

/// RLHF through the CLI: a reward model, DPO and PPO on one base (the tiny llama fixture, fast; the real model for
/// the budget), their evaluation and scoring, and bad input refused before any work.
@Suite struct RLHFTests {
  static let tiny = CLI.fixtures.appendingPathComponent("tiny/llama-mixed.tiny-gguf").path
  static let otherTiny = CLI.fixtures.appendingPathComponent("tiny/qwen2-hf").path
  static let signoff = BudgetTests.repository.appendingPathComponent("Tools/data/signoff").path

  static let pairs = """
    {"prompt": [{"role": "user", "content": "Name a colour."}], "chosen": [{"role": "assistant", "content": "Red. Over and out."}], "rejected": [{"role": "assistant", "content": "Red."}]}
    {"prompt": "Two plus two?\\n", "chosen": "Four. Over and out.", "rejected": "It is four, as everyone knows."}
    {"prompt": [{"role": "user", "content": "Say hi."}], "completions": [[{"role": "assistant", "content": "Hi. Over and out."}], [{"role": "assistant", "content": "Hi."}], [{"role": "assistant", "content": "Hello there, how are you doing today?"}]]}

    """

  static func write(_ text: String, _ name: String, in dir: URL) throws -> String {
    let path = dir.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  /// Reward model → eval and score → PPO against it → DPO, all on the tiny base.
  @Test func rewardModelPPOAndDPORunEndToEnd() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let data = try Self.write(Self.pairs, "pairs.jsonl", in: dir)
    let prompts = try Self.write("{\"prompt\": \"Name a colour.\"}\n{\"prompt\": \"Say hi.\"}\n", "p.jsonl", in: dir)
    let rm = dir.appendingPathComponent("rm").path
    let rmReport = dir.appendingPathComponent("rm.json").path
    let trained = try CLI.run([
      "train", "reward", "-m", Self.tiny, "--data", data, "--val", data, "--steps", "3", "--batch", "2",
      "--seq-len", "64", "--rank", "4", "--lr", "1e-2", "--out", rm, "--report", rmReport,
    ])
    #expect(trained.status == 0, "\(trained.stderr)")
    let report = try BudgetTests.report(at: rmReport)
    #expect(report.run.method == "reward" && report.run.pairs == 5, "\(report)")
    let evaluation = try #require(report.run.eval)
    // It learns its 5 training pairs: every chosen answer ends up above its rejected one (2 of 5 before; measured
    // loss 0.694 → 0.45), so a reward model that does not learn, or ranks the wrong way, fails here.
    let before = try #require(report.run.evalBefore)
    #expect(evaluation["pairs"] == 5 && evaluation["accuracy"] == 1, "\(evaluation)")
    #expect(before["accuracy"].map { $0 < 1 } == true, "\(before)")
    #expect(evaluation["loss"]! < before["loss"]! - 0.1, "loss \(before["loss"]!) → \(evaluation["loss"]!)")
    let config = try CLI.decode(LoRAAdapterConfig.self, file: rm + "/adapter_config.json")
    #expect(config.taskType == "SEQ_CLS" && config.modulesToSave == ["score"])

    let evaluated = try CLI.run(["eval", "-m", Self.tiny, "--reward", rm, "--data", data, "--seq-len", "64", "--json"])
    #expect(evaluated.status == 0, "\(evaluated.stderr)")
    let figures = try evaluated.decoded(CommandReport<Eval.RewardResult>.self).result
    #expect(figures.pairs == 5 && figures.correct <= 5)
    #expect(abs(figures.accuracy - evaluation["accuracy"]!) < 1e-9, "the same pairs score alike")
    let scored = try CLI.run(["score", "-m", Self.tiny, "--reward", rm, "--prompt", "Say hi.", "--completion", "Hi."])
    #expect(scored.status == 0 && Double(scored.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) != nil)

    let ppo = dir.appendingPathComponent("ppo").path
    let ppoReport = dir.appendingPathComponent("ppo.json").path
    let policy = try CLI.run([
      "train", "ppo", "-m", Self.tiny, "--reward", rm, "--prompts", prompts, "--val-prompts", prompts, "--steps", "2",
      "--rollouts", "2", "--mini-batch", "1", "--ppo-epochs", "2", "--max-new-tokens", "6", "--seq-len", "64",
      "--rank", "4", "--out", ppo, "--report", ppoReport,
    ])
    #expect(policy.status == 0, "\(policy.stderr)")
    let ppoFigures = try BudgetTests.report(at: ppoReport)
    #expect(ppoFigures.run.steps == 2 * 2 * 2, "2 batches × 2 epochs × 2 minibatches")
    let batches = try #require(ppoFigures.run.ppoBatches)
    #expect(batches.count == 2)
    #expect(batches.first?["kl"] == 0, "the first batch samples from the policy before any update: it is the base")
    for key in ["score", "kl", "entropy", "answer_tokens"] { #expect(batches.last?[key] != nil, "\(key)") }
    let curves = try #require(ppoFigures.run.metricCurves)
    for key in ["clip_fraction", "value_loss", "policy_loss", "approx_kl"] {
      #expect(curves[key]?.count == 8, "\(key)")
    }
    #expect(ppoFigures.plan.plan.contains { $0.label == "kv-cache" })
    #expect(FileManager.default.fileExists(atPath: ppo + "/value_head.safetensors"))
    let generated = try CLI.run(["generate", "-m", Self.tiny, "--adapter", ppo, "--chat", "Hi", "--max-tokens", "3"])
    #expect(generated.status == 0, "the PPO policy is a plain LoRA adapter: \(generated.stderr)")

    let dpoReport = dir.appendingPathComponent("dpo.json").path
    let dpo = try CLI.run([
      "train", "dpo", "-m", Self.tiny, "--data", data, "--steps", "2", "--batch", "2", "--seq-len", "64",
      "--val-fraction", "0", "--out", dir.appendingPathComponent("dpo").path, "--report", dpoReport,
    ])
    #expect(dpo.status == 0, "\(dpo.stderr)")
    let dpoFigures = try BudgetTests.report(at: dpoReport)
    #expect(
      abs(dpoFigures.run.lossFirst - log(2.0)) < 1e-6, "B = 0: the policy starts as the reference")
  }

  /// A checkpoint of a pair objective resumes exactly: the same adapter as the uninterrupted run.
  @Test func dpoResumesExactly() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let data = try Self.write(Self.pairs, "pairs.jsonl", in: dir)
    func run(_ name: String, _ extra: [String]) throws -> CLIResult {
      try CLI.run(
        [
          "train", "dpo", "-m", Self.tiny, "--data", data, "--steps", "4", "--batch", "1", "--seq-len", "64",
          "--val-fraction", "0", "--out", dir.appendingPathComponent(name).path,
        ] + extra)
    }
    let whole = try run("whole", ["--save-every", "2"])
    #expect(whole.status == 0, "\(whole.stderr)")
    let resumed = try run("resumed", ["--resume", dir.appendingPathComponent("whole.checkpoints/checkpoint-2").path])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let a = try Data(contentsOf: dir.appendingPathComponent("whole/adapter_model.safetensors"))
    let b = try Data(contentsOf: dir.appendingPathComponent("resumed/adapter_model.safetensors"))
    #expect(a == b, "the resumed adapter differs from the uninterrupted one")
  }

  /// Bad preference data and mismatched reward models: a clear message and a non-zero exit before any step.
  @Test func badInputIsRefusedBeforeWork() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    func refused(_ arguments: [String], _ expected: String) throws {
      let result = try CLI.run(arguments)
      #expect(result.exited && result.status != 0, "\(arguments): \(result.stderr)")
      #expect(result.stderr.contains(expected), "\(arguments): expected '\(expected)' in \(result.stderr)")
      #expect(!result.stderr.contains("step 1"), "\(arguments) started training")
    }
    let identical = try Self.write(
      "{\"prompt\": \"Q\\n\", \"chosen\": \"A.\", \"rejected\": \"A.\"}\n", "identical.jsonl", in: dir)
    let missing = try Self.write("{\"prompt\": \"Q\\n\", \"chosen\": \"A.\"}\n", "missing.jsonl", in: dir)
    let empty = try Self.write(
      "{\"prompt\": \"  \", \"chosen\": \"A.\", \"rejected\": \"B.\"}\n", "empty.jsonl", in: dir)
    let out = dir.appendingPathComponent("out").path
    for (file, message) in [(identical, "identical"), (missing, "rejected"), (empty, "empty")] {
      // --seq-len 64: a pair row holds both sequences, inside the tiny model's context of 128.
      let common = ["-m", Self.tiny, "--data", file, "--steps", "1", "--seq-len", "64", "--out", out]
      try refused(["train", "reward"] + common, file + ":1:")
      try refused(["train", "dpo"] + common, message)
    }
    // A reward model trained on one base, used with another (hidden size 64 vs 32), and a plain LoRA as --reward.
    let data = try Self.write(Self.pairs, "pairs.jsonl", in: dir)
    let rm = dir.appendingPathComponent("rm").path
    let trained = try CLI.run([
      "train", "reward", "-m", Self.tiny, "--data", data, "--steps", "1", "--seq-len", "64", "--out", rm,
    ])
    #expect(trained.status == 0, "\(trained.stderr)")
    let prompts = try Self.write("{\"prompt\": \"Hi\"}\n", "p.jsonl", in: dir)
    try refused(
      [
        "train", "ppo", "-m", Self.otherTiny, "--reward", rm, "--prompts", prompts, "--steps", "1", "--seq-len", "64",
        "--out", out,
      ], "trained on another base")
    try refused(
      ["score", "-m", Self.otherTiny, "--reward", rm, "--prompt", "Hi", "--completion", "Yo"], "another base")
    let lora = dir.appendingPathComponent("lora").path
    let sft = try Self.write("{\"text\": \"hello there\"}\n", "sft.jsonl", in: dir)
    let plain = try CLI.run([
      "train", "lora", "-m", Self.tiny, "--data", sft, "--steps", "1", "--seq-len", "16", "--out", lora,
    ])
    #expect(plain.status == 0, "\(plain.stderr)")
    try refused(
      [
        "train", "ppo", "-m", Self.tiny, "--reward", lora, "--prompts", prompts, "--steps", "1", "--seq-len", "64",
        "--out", out,
      ], "not a reward model")
    try refused(
      [
        "train", "ppo", "-m", Self.tiny, "--reward", rm, "--prompts", prompts, "--max-new-tokens", "300",
        "--seq-len", "256", "--steps", "1", "--out", out,
      ], "--max-new-tokens")
  }

  /// PPO on SmolLM2-135M within a budget: the plan counts one base plus the rollout KV cache and the reward model,
  /// and the kernel's peak stays under it.
  @Test(.enabled(if: CLI.haveModel)) func ppoOnTheRealModelFitsItsBudget() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let rm = dir.appendingPathComponent("rm").path
    let trained = try CLI.run([
      "train", "reward", "-m", nf4, "--data", Self.signoff + "/train.jsonl", "--val-fraction", "0", "--steps", "1",
      "--seq-len", "96", "--budget", "160MiB", "--out", rm,
    ])
    #expect(trained.status == 0, "\(trained.stderr)")
    let reportPath = dir.appendingPathComponent("ppo.json").path
    let ppo = try CLI.run([
      "train", "ppo", "-m", nf4, "--reward", rm, "--prompts", Self.signoff + "/prompts-heldout.jsonl", "--steps", "1",
      "--rollouts", "2", "--mini-batch", "2", "--ppo-epochs", "1", "--max-new-tokens", "8", "--seq-len", "96",
      "--budget", "170MiB", "--out", dir.appendingPathComponent("ppo").path, "--report", reportPath,
    ])
    #expect(ppo.status == 0, "\(ppo.stderr)")
    let report = try BudgetTests.report(at: reportPath)
    let peak = report.run.peakRSSBytes
    #expect(peak <= 170 << 20, "VmHWM \(peak >> 20) MiB above the 170 MiB budget")
    let labels = report.plan.plan.map(\.label)
    #expect(labels.contains("kv-cache") && labels.contains("reward-model"), "\(labels)")
    #expect(labels.filter { $0.hasPrefix("weights") }.count == 1, "one base in the plan: \(labels)")
  }
}
