import Foundation
import Memory
import Model
import Testing

@testable import Training
@testable import edgetune

/// `train adapter` on the real model: bottleneck adapters train within the budget LoRA gets, save with their
/// placement, resume exactly, apply in `generate` and `eval`, are refused by `merge`; bad options fail before work.
@Suite struct AdapterTuningTests {
  static let data = BudgetTests.data

  static func train(_ nf4: String, _ dir: URL, _ name: String, _ extra: [String]) throws -> (CLIResult, String, String)
  {
    let out = dir.appendingPathComponent(name).path
    let report = dir.appendingPathComponent(name + ".json").path
    let result = try CLI.run(
      [
        "train", "adapter", "--model", nf4, "--data", data, "--val-fraction", "0", "--seq-len", "128",
        "--architecture", "houlsby", "--out", out, "--report", report,
      ] + extra)
    return (result, out, report)
  }

  /// Merges `out` into f32 safetensors and checks that the merged model scores a short text exactly as the base with
  /// `out` applied; returns that loss.
  @discardableResult
  static func expectMergeEqualsApplied(_ nf4: String, _ out: String, in dir: URL) throws -> Double {
    let merged = dir.appendingPathComponent("merged-\(UUID().uuidString).safetensors").path
    let merging = try CLI.run(["merge", "--model", nf4, "--adapter", out, "-o", merged, "--dtype", "f32"])
    #expect(merging.status == 0, "\(merging.stderr)")
    let text = dir.appendingPathComponent("text.txt")
    try Data("The first of March 2021 is written 2021-03-01 in ISO 8601.".utf8).write(to: text)
    let applied = try CLI.run(["eval", "--model", nf4, "--adapter", out, "--text", text.path, "--json"])
    let fromMerged = try CLI.run(["eval", "--model", merged, "--text", text.path, "--json"])
    #expect(applied.status == 0 && fromMerged.status == 0, "\(applied.stderr)\(fromMerged.stderr)")
    let a = try applied.decoded(CommandReport<Eval.TextResult>.self).result.meanLoss
    let m = try fromMerged.decoded(CommandReport<Eval.TextResult>.self).result.meanLoss
    #expect(abs(a - m) < 1e-5 * abs(a), "merged \(m) vs applied \(a)")
    return a
  }

  @Test(.enabled(if: CLI.haveModel)) func trainsWithinTheBudgetResumesAndApplies() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let (whole, out, reportPath) = try Self.train(
      nf4, dir, "whole", ["--steps", "4", "--save-every", "2", "--budget", "160MiB"])
    #expect(whole.status == 0, "\(whole.stderr)")
    let report = try BudgetTests.report(at: reportPath)
    #expect(report.run.method == "adapter" && report.method.architecture == "houlsby")
    // 30 layers × 2 placements × (36×576 + 36 + 576×36 + 576) parameters at reduction factor 16.
    #expect(report.run.trainableParameters == 30 * 2 * (2 * 36 * 576 + 36 + 576))
    let peak = report.run.peakRSSBytes
    #expect(peak <= 160 << 20, "VmHWM \(peak >> 20) MiB above the 160 MiB budget")
    let checkpoint = dir.appendingPathComponent("whole.checkpoints/checkpoint-2").path
    let (resumed, resumedOut, _) = try Self.train(nf4, dir, "resumed", ["--steps", "4", "--resume", checkpoint])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let a = try Data(contentsOf: URL(fileURLWithPath: out + "/adapter_model.safetensors"))
    let b = try Data(contentsOf: URL(fileURLWithPath: resumedOut + "/adapter_model.safetensors"))
    #expect(a == b, "the resumed adapter differs from the uninterrupted one")

    let generated = try CLI.run([
      "generate", "--model", nf4, "--adapter", out, "--chat", "Name a colour.", "--temperature", "0",
      "--max-tokens", "4",
    ])
    #expect(generated.status == 0 && generated.stderr.contains("houlsby bottleneck adapters"), "\(generated.stderr)")
    let evaluated = try CLI.run([
      "eval", "--model", nf4, "--adapter", out, "--data",
      BudgetTests.repository.appendingPathComponent("Tools/data/dates/heldout.jsonl").path, "--limit", "2", "--json",
    ])
    #expect(evaluated.status == 0, "\(evaluated.stderr)")
    let merged = try CLI.run([
      "merge", "--model", nf4, "--adapter", out, "-o", dir.appendingPathComponent("m.nf4").path,
    ])
    #expect(merged.exited && merged.status != 0 && merged.stderr.contains("cannot be merged"), "\(merged.stderr)")
  }

  /// IA3 through the same run: PEFT's format, applied by eval, within the budget, not merged.
  @Test(.enabled(if: CLI.haveModel)) func ia3TrainsAndApplies() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("ia3").path
    let reportPath = dir.appendingPathComponent("ia3.json").path
    let result = try CLI.run([
      "train", "ia3", "--model", nf4, "--data", Self.data, "--val-fraction", "0", "--seq-len", "128", "--steps", "2",
      "--budget", "160MiB", "--out", out, "--report", reportPath,
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let report = try BudgetTests.report(at: reportPath)
    #expect(report.run.method == "ia3" && report.run.trainableParameters == 30 * (2 * 192 + 1536))
    #expect(report.run.peakRSSBytes <= 160 << 20)
    #expect(try CLI.decode(IA3AdapterConfig.self, file: out + "/adapter_config.json").peftType == "IA3")
    let evaluated = try CLI.run([
      "eval", "--model", nf4, "--adapter", out, "--data",
      BudgetTests.repository.appendingPathComponent("Tools/data/dates/heldout.jsonl").path, "--limit", "2", "--json",
    ])
    #expect(evaluated.status == 0 && evaluated.stderr.contains("IA3"), "\(evaluated.stderr)")
    // Merged into f32 weights (keys and values scaled by row, down_proj by column) it scores as applied.
    try Self.expectMergeEqualsApplied(nf4, out, in: dir)
  }

  /// Selective norms: trained within the budget, merged into a new model file (f32 safetensors: the base's decoded
  /// weights with the trained norms) whose loss equals the base with the result applied. (An .nf4 merge re-quantizes
  /// the double-quantized block scales of every matrix, which moves the loss by ~3e-3 by itself.)
  @Test(.enabled(if: CLI.haveModel)) func selectiveNormsTrainAndMergeIntoANewModel() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("norms").path
    let reportPath = dir.appendingPathComponent("norms.json").path
    let result = try CLI.run([
      "train", "selective", "--tensors", "norms", "--model", nf4, "--data", Self.data, "--val-fraction", "0",
      "--seq-len", "128", "--steps", "3", "--lr", "1e-2", "--budget", "160MiB", "--out", out, "--report", reportPath,
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let report = try BudgetTests.report(at: reportPath)
    #expect(report.run.method == "selective" && report.run.trainableParameters == (2 * 30 + 1) * 576)
    #expect(report.run.peakRSSBytes <= 160 << 20)
    let a = try Self.expectMergeEqualsApplied(nf4, out, in: dir)
    let text = dir.appendingPathComponent("text.txt")
    let base = try CLI.run(["eval", "--model", nf4, "--text", text.path, "--json"])
    let b = try base.decoded(CommandReport<Eval.TextResult>.self).result.meanLoss
    #expect(abs(a - b) > 1e-4, "training changed nothing")
    let wrong = try CLI.run(
      [
        "train", "selective", "--tensors", "embeddings", "--model", nf4, "--data", Self.data, "--steps", "1", "--out",
        out,
      ])
    #expect(wrong.status != 0 && wrong.stderr.contains("use norms, head or last-layers:K"), "\(wrong.stderr)")
  }

  /// The last two layers' full weights: the plan counts their fp32 copies (about 16 bytes a weight with gradients and
  /// AdamW moments), the run stays within that larger budget, and an f32 merge equals the applied result.
  @Test(.enabled(if: CLI.haveModel)) func lastLayersTrainWithinTheirPlanAndMerge() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("layers").path
    let reportPath = dir.appendingPathComponent("layers.json").path
    let result = try CLI.run([
      "train", "selective", "--tensors", "last-layers:2", "--model", nf4, "--data", Self.data, "--val-fraction", "0",
      "--seq-len", "128", "--steps", "2", "--budget", "280MiB", "--out", out, "--report", reportPath,
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let report = try BudgetTests.report(at: reportPath)
    // Per layer: q, o 576×576; k, v 192×576; gate, up, down 1536×576; two norms of 576.
    let perLayer = 2 * 576 * 576 + 2 * 192 * 576 + 3 * 1536 * 576 + 2 * 576
    #expect(report.run.trainableParameters == 2 * perLayer)
    #expect(report.run.peakRSSBytes <= 280 << 20)
    let selective = report.plan.plan.first { $0.label == "selective" }?.bytes ?? 0
    #expect(selective >= 2 * perLayer * 4, "the plan counts the fp32 copies: \(selective)")
    try Self.expectMergeEqualsApplied(nf4, out, in: dir)
  }

  /// The output head alone (feature extraction): SmolLM2 ties it to the embedding, so the copy unties it; the plan
  /// counts the 49152 × 576 fp32 copy with its gradient and moments, and the merged model (with its own lm_head)
  /// scores text exactly as the result applied.
  @Test(.enabled(if: CLI.haveModel)) func headOnlyTrainsWithinItsPlanAndMergesUntied() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("head").path
    let reportPath = dir.appendingPathComponent("head.json").path
    let result = try CLI.run([
      "train", "selective", "--tensors", "head", "--model", nf4, "--data", Self.data, "--val-fraction", "0",
      "--seq-len", "128", "--steps", "2", "--budget", "640MiB", "--out", out, "--report", reportPath,
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let report = try BudgetTests.report(at: reportPath)
    #expect(report.run.trainableParameters == 49152 * 576)
    #expect(report.run.peakRSSBytes <= 640 << 20)
    try Self.expectMergeEqualsApplied(nf4, out, in: dir)
    let config = try CLI.decode(HuggingFaceConfig.self, file: dir.appendingPathComponent("config.json").path)
    #expect(!config.tieWordEmbeddings, "\(config)")
  }

  @Test(.enabled(if: CLI.haveModel)) func badOptionsFailBeforeAnyWork() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let cases: [([String], String)] = [
      (["--reduction-factor", "7"], "7 does not divide the hidden size 576"),
      (["--architecture", "parallel"], "--architecture must be houlsby or pfeiffer"),
      (["--activation", "gelu"], "--activation must be relu or silu"),
    ]
    for (options, message) in cases {
      let result = try CLI.run(
        ["train", "adapter", "--model", nf4, "--data", Self.data, "--steps", "1", "--out", "/tmp/never"] + options)
      #expect(result.exited && result.status != 0 && result.stderr.contains(message), "\(options): \(result.stderr)")
      #expect(!result.stderr.contains("train:"), "training started")
    }
  }
}
