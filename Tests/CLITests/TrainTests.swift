import Foundation
import Memory
import Testing

@testable import Training
@testable import edgetune

/// `edgetune train lora` end to end on the tiny llama fixture: outputs, report, errors, exact resume.
@Suite struct TrainTests {
  static let model = CLI.fixtures.appendingPathComponent("tiny/llama-mixed.tiny-gguf").path

  /// A small dataset of texts and chats in the tiny tokenizer's byte-level vocabulary.
  static func writeData(_ dir: URL, lines: Int = 40) throws -> String {
    var text = ""
    for i in 0..<lines {
      if i % 2 == 0 {
        text += "{\"text\": \"The number \(i) is written as \(String(i, radix: 2)) in binary.\"}\n"
      } else {
        text +=
          "{\"messages\": [{\"role\": \"user\", \"content\": \"Say \(i).\"}, {\"role\": \"assistant\", \"content\": \"\(i)\"}]}\n"
      }
    }
    let path = dir.appendingPathComponent("data.jsonl").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  func train(_ dir: URL, _ extra: [String]) throws -> CLIResult {
    let data = try Self.writeData(dir)
    return try CLI.run(
      [
        "train", "lora", "--model", Self.model, "--data", data, "--seq-len", "48", "--rank", "4", "--targets",
        "q,k,v,o,gate,up,down",
        "--threads", "2",
      ] + extra)
  }

  @Test func writesAPEFTAdapterAndAReport() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("adapter").path
    let report = dir.appendingPathComponent("report.json").path
    let result = try train(dir, ["--out", out, "--steps", "25", "--lr", "1e-2", "--report", report])
    #expect(result.status == 0, "\(result.stderr)")
    for file in ["adapter_config.json", "adapter_model.safetensors"] {
      #expect(FileManager.default.fileExists(atPath: out + "/" + file))
    }
    // The names scripts read (Tools/compare-methods, bench-paging, rlhf-demo), beside the typed report.
    let keys = try CLI.decode(JSONKeys.self, file: report).keys
    for key in [
      "method", "steps", "tokens", "tokens_per_second", "wall_seconds", "peak_rss_bytes", "peak_anon_bytes",
      "ledger_peak_bytes", "ledger_peak_bytes_by_label", "loss_first", "loss_last", "eval_loss", "eval_loss_before",
      "trainable_parameters", "optimizer_state", "optimizer_state_bytes", "planned_peak_bytes", "loss_curve",
    ] {
      #expect(keys.contains(key), "report lacks \(key)")
    }
    let json = try BudgetTests.report(at: report)
    #expect(json.run.method == "lora")
    #expect(json.run.lossLast < json.run.lossFirst, "loss \(json.run.lossFirst) → \(json.run.lossLast)")
  }

  /// Interrupted at step 4 (a checkpoint), resumed to step 8: the adapter equals an uninterrupted 8-step run's, bit for
  /// bit; with DoRA too (its magnitudes are checkpointed and restored with A and B).
  @Test(arguments: [false, true]) func resumeContinuesExactly(dora: Bool) throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let whole = dir.appendingPathComponent("whole").path
    let split = dir.appendingPathComponent("split").path
    let common =
      ["--lr", "5e-3", "--seed", "3", "--batch", "2", "--val-fraction", "0", "--dropout", "0.1"]
      + (dora ? ["--use-dora"] : [])
    #expect(try train(dir, ["--out", whole, "--steps", "8"] + common).status == 0)
    let first = try train(dir, ["--out", split, "--steps", "8", "--save-every", "4"] + common)
    #expect(first.status == 0, "\(first.stderr)")
    try FileManager.default.removeItem(atPath: split)
    let resumed = try train(
      dir, ["--out", split, "--steps", "8", "--resume", split + ".checkpoints/checkpoint-4"] + common)
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let a = try Data(contentsOf: URL(fileURLWithPath: whole + "/adapter_model.safetensors"))
    let b = try Data(contentsOf: URL(fileURLWithPath: split + "/adapter_model.safetensors"))
    #expect(a == b, "resumed adapter differs from the uninterrupted run")
  }

  /// A checkpoint whose trainer_state.json lacks a key, or is not JSON, is refused before any work, naming the file
  /// and the key; the same checkpoint with its state intact resumes.
  @Test func aDamagedTrainerStateIsNamed() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("run").path
    let common = ["--steps", "4", "--val-fraction", "0"]
    #expect(try train(dir, ["--out", out, "--save-every", "2"] + common).status == 0)
    let checkpoint = out + ".checkpoints/checkpoint-2"
    let state = checkpoint + "/trainer_state.json"
    let saved = try CLI.decode(TrainerState<BatchStream.State>.self, file: state)
    #expect(saved.step == 2 && saved.objective.batches == 2)
    let intact = try Data(contentsOf: URL(fileURLWithPath: state))
    for (text, reason) in [
      ("{\"objective\": {}, \"stp\": 2}", "it has no \"step\""),
      ("{\"step\": 2", "not a trainer state of this version: it is not valid JSON"),
      ("{\"objective\": {\"batches\": 2}, \"step\": 2}", "it has no \"mixture\" in \"objective\""),
    ] {
      try text.write(toFile: state, atomically: true, encoding: .utf8)
      let resumed = try train(dir, ["--out", out + "-resumed", "--resume", checkpoint] + common)
      #expect(resumed.exited && resumed.status == 1, "\(resumed.stderr)")
      #expect(resumed.stderr.contains(state) && resumed.stderr.contains(reason), "\(resumed.stderr)")
    }
    try intact.write(to: URL(fileURLWithPath: state))
    #expect(try train(dir, ["--out", out + "-resumed", "--resume", checkpoint] + common).status == 0)
  }

  /// DoRA is for lora and dpo: a reward model refuses it, naming the flag.
  @Test func rewardRefusesDoRA() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let pairs = dir.appendingPathComponent("pairs.jsonl").path
    try "{\"prompt\": \"Say 1.\", \"chosen\": \"1\", \"rejected\": \"2\"}\n".write(
      toFile: pairs, atomically: true, encoding: .utf8)
    let result = try CLI.run([
      "train", "reward", "--model", Self.model, "--data", pairs, "--use-dora", "--steps", "1",
      "--out", dir.appendingPathComponent("reward").path,
    ])
    #expect(result.status != 0)
    #expect(result.stderr.contains("--use-dora"), "\(result.stderr)")
  }

  @Test func badInputStopsBeforeTraining() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let bad = dir.appendingPathComponent("bad.jsonl").path
    try "{\"text\": \"fine\"}\n{\"text\": oops}\n".write(toFile: bad, atomically: true, encoding: .utf8)
    let out = dir.appendingPathComponent("out").path
    let malformed = try CLI.run([
      "train", "lora", "--model", Self.model, "--data", bad, "--out", out, "--steps", "2", "--seq-len", "64",
    ])
    #expect(malformed.status == 1 && malformed.exited)
    #expect(malformed.stderr.contains("bad.jsonl:2"), "\(malformed.stderr)")
    #expect(!FileManager.default.fileExists(atPath: out))

    let empty = dir.appendingPathComponent("empty.jsonl").path
    try "\n\n".write(toFile: empty, atomically: true, encoding: .utf8)
    let none = try CLI.run([
      "train", "lora", "--model", Self.model, "--data", empty, "--out", out, "--steps", "2", "--seq-len", "64",
    ])
    #expect(none.status == 1 && none.stderr.contains("empty.jsonl"), "\(none.stderr)")

    let data = try Self.writeData(dir)
    let target = try CLI.run([
      "train", "lora", "--model", Self.model, "--data", data, "--out", out, "--steps", "2", "--targets", "q,qq",
    ])
    #expect(target.status != 0 && target.stderr.contains("'qq'"), "\(target.stderr)")

    let unwritable = try CLI.run([
      "train", "lora", "--model", Self.model, "--data", data, "--out", "/proc/edgetune-out", "--steps", "2",
    ])
    #expect(unwritable.status == 1 && unwritable.stderr.contains("/proc"), "\(unwritable.stderr)")

    let missing = try CLI.run([
      "train", "lora", "--model", "/nonexistent.nf4", "--data", data, "--out", out, "--steps", "2",
    ])
    #expect(missing.status == 1 && missing.stderr.contains("/nonexistent.nf4"))
    #expect(!FileManager.default.fileExists(atPath: out))
  }

  /// A merged model (f32 safetensors or GGUF) scores a text exactly as the base with the adapter applied (LoRA, and
  /// DoRA whose magnitudes fold into the merged rows).
  @Test(arguments: [false, true]) func mergedModelEqualsBasePlusAdapter(dora: Bool) throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("adapter").path
    let report = dir.appendingPathComponent("report.json").path
    let options = ["--out", out, "--steps", "6", "--lr", "2e-2", "--val-fraction", "0", "--report", report]
    #expect(try train(dir, options + (dora ? ["--use-dora"] : [])).status == 0)
    #expect(try BudgetTests.report(at: report).method.useDoRA == (dora ? true : nil))
    let text = dir.appendingPathComponent("text.txt").path
    try "The number 12 is written as 1100 in binary. Say 7.".write(toFile: text, atomically: true, encoding: .utf8)
    func loss(_ arguments: [String]) throws -> Double {
      let result = try CLI.run(["eval", "--text", text, "--json"] + arguments)
      #expect(result.status == 0, "\(result.stderr)")
      return try result.decoded(CommandReport<Eval.TextResult>.self).result.meanLoss
    }
    let adapted = try loss(["--model", Self.model, "--adapter", out])
    let base = try loss(["--model", Self.model])
    #expect(abs(adapted - base) > 1e-3, "the adapter should change the loss")
    for name in ["merged/model.safetensors", "merged.gguf"] {
      let path = dir.appendingPathComponent(name).path
      try FileManager.default.createDirectory(
        atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
      let merge = try CLI.run(["merge", "--model", Self.model, "--adapter", out, "-o", path, "--dtype", "f32"])
      #expect(merge.status == 0, "\(merge.stderr)")
      let merged = try loss(["--model", name.hasSuffix(".gguf") ? path : (path as NSString).deletingLastPathComponent])
      #expect(abs(merged - adapted) < 1e-4, "\(name): merged \(merged), base + adapter \(adapted)")
    }
  }
}
