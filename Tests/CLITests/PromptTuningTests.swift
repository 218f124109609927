import Foundation
import Memory
import Testing

@testable import Training
@testable import edgetune

/// `train prompt` on the real model: a soft prompt trains within the budget LoRA gets, saves in PEFT's format,
/// resumes exactly, applies in `generate` and `eval`, and is refused by `merge`; bad options fail before any work.
@Suite struct PromptTuningTests {
  static let data = BudgetTests.data

  static func train(_ nf4: String, _ dir: URL, _ name: String, _ extra: [String]) throws -> (CLIResult, String, String)
  {
    let out = dir.appendingPathComponent(name).path
    let report = dir.appendingPathComponent(name + ".json").path
    let result = try CLI.run(
      [
        "train", "prompt", "--model", nf4, "--data", data, "--val-fraction", "0", "--seq-len", "128",
        "--virtual-tokens", "8", "--init-text", "Dates in ISO 8601:", "--out", out, "--report", report,
      ] + extra)
    return (result, out, report)
  }

  @Test(.enabled(if: CLI.haveModel)) func trainsWithinTheBudgetAndAppliesInGenerateAndEval() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let (result, out, reportPath) = try Self.train(nf4, dir, "prompt", ["--steps", "3", "--budget", "160MiB"])
    #expect(result.status == 0, "\(result.stderr)")
    let report = try BudgetTests.report(at: reportPath)
    #expect(report.run.method == "prompt" && report.method.virtualTokens == 8)
    #expect(report.run.trainableParameters == 8 * 576)
    let peak = report.run.peakRSSBytes
    #expect(peak <= 160 << 20, "VmHWM \(peak >> 20) MiB above the 160 MiB budget")
    let config = try CLI.decode(PromptTuningAdapterConfig.self, file: out + "/adapter_config.json")
    #expect(config.peftType == "PROMPT_TUNING" && config.numVirtualTokens == 8)

    let generated = try CLI.run([
      "generate", "--model", nf4, "--adapter", out, "--chat", "Name a colour.", "--temperature", "0",
      "--max-tokens", "4", "--json",
    ])
    #expect(generated.status == 0, "\(generated.stderr)")
    let promptTokens = try generated.decoded(CommandReport<Generate.Result>.self).result.promptTokens
    #expect(promptTokens > 8, "the virtual tokens are part of the prompt")
    #expect(generated.stderr.contains("soft prompt of 8 virtual tokens"))
    let evaluated = try CLI.run([
      "eval", "--model", nf4, "--adapter", out, "--data",
      BudgetTests.repository.appendingPathComponent("Tools/data/dates/heldout.jsonl").path, "--limit", "3", "--json",
    ])
    #expect(evaluated.status == 0, "\(evaluated.stderr)")
    let merged = try CLI.run([
      "merge", "--model", nf4, "--adapter", out, "-o", dir.appendingPathComponent("m.nf4").path,
    ])
    #expect(merged.exited && merged.status != 0 && merged.stderr.contains("cannot be merged"), "\(merged.stderr)")
  }

  @Test(.enabled(if: CLI.haveModel)) func resumingEqualsAnUninterruptedRun() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let (whole, wholeOut, _) = try Self.train(nf4, dir, "whole", ["--steps", "4", "--save-every", "2"])
    #expect(whole.status == 0, "\(whole.stderr)")
    let checkpoint = dir.appendingPathComponent("whole.checkpoints/checkpoint-2").path
    let (resumed, resumedOut, _) = try Self.train(nf4, dir, "resumed", ["--steps", "4", "--resume", checkpoint])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let a = try Data(contentsOf: URL(fileURLWithPath: wholeOut + "/adapter_model.safetensors"))
    let b = try Data(contentsOf: URL(fileURLWithPath: resumedOut + "/adapter_model.safetensors"))
    #expect(a == b)
  }

  /// `plan` and `profile` take every method with --method and that method's options.
  @Test(.enabled(if: CLI.haveModel)) func planAndProfileTakeEveryMethod() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    for (method, label) in [
      ("lora", "lora"), ("prompt", "prompt"), ("adapter", "adapter"), ("ia3", "ia3"), ("selective", "selective"),
    ] {
      let result = try CLI.run(["plan", "--method", method, "--model", nf4, "--data", Self.data, "--json"])
      #expect(result.status == 0, "\(method): \(result.stderr)")
      let lines = try result.decoded(PlanSummary.self).lines
      #expect(lines.contains { $0.label == label }, "\(method): no '\(label)' line")
    }
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let profile = try CLI.run([
      "profile", "--method", "adapter", "--model", nf4, "--data", Self.data, "--val-fraction", "0", "--seq-len", "64",
      "--steps", "1", "--out", dir.path,
    ])
    #expect(profile.status == 0, "\(profile.stderr)")
    let page = try String(contentsOfFile: dir.appendingPathComponent("profile.html").path, encoding: .utf8)
    #expect(page.contains("adapter on"), "the page names the method")
  }

  @Test(.enabled(if: CLI.haveModel)) func badOptionsFailBeforeAnyWork() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let cases: [([String], String)] = [
      (["--virtual-tokens", "0"], "--virtual-tokens must be at least 1"),
      (["--init", "text"], "--init text needs --init-text"),
      (["--init", "random", "--init-text", "x"], "--init-text is only used with --init text"),
      (["--init", "zeros"], "--init must be text, sample or random"),
    ]
    for (options, message) in cases {
      let result = try CLI.run(
        ["train", "prompt", "--model", nf4, "--data", Self.data, "--steps", "1", "--out", "/tmp/never"] + options)
      #expect(result.exited && result.status != 0 && result.stderr.contains(message), "\(options): \(result.stderr)")
      #expect(!FileManager.default.fileExists(atPath: "/tmp/never"))
    }
  }
}
