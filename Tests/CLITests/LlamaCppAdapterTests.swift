import Foundation
import Memory
import Testing

@testable import edgetune

/// `convert ADAPTER --model BASE -o adapter.gguf` and back, the Ollama Modelfile beside it, `--adapter adapter.gguf`
/// on every verb, and the bad inputs of that path: each a clear message naming the file, nothing written.
@Suite struct LlamaCppAdapterTests {
  static let model = CLI.fixtures.appendingPathComponent("tiny/llama-mixed.tiny-gguf").path
  static let qwen = CLI.fixtures.appendingPathComponent("tiny/qwen2.tiny-gguf").path
  static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Tools/data/dates/train.jsonl").path

  /// A LoRA adapter on every projection of the tiny llama model, trained for a few steps (B no longer zero).
  func trainAdapter(in dir: URL) throws -> String {
    let out = dir.appendingPathComponent("adapter").path
    let result = try CLI.run([
      "train", "lora", "--model", Self.model, "--data", Self.data, "--seq-len", "48", "--steps", "4", "--lr", "1e-2",
      "--targets", "q,k,v,o,gate,up,down", "--val-fraction", "0", "--out", out,
    ])
    try #require(result.status == 0, "\(result.stderr)")
    return out
  }

  @Test func roundTripModelfileAndEveryVerb() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let adapter = try trainAdapter(in: dir)
    let gguf = dir.appendingPathComponent("adapter.gguf").path
    let converted = try CLI.run(["convert", adapter, "--model", Self.model, "-o", gguf])
    #expect(converted.status == 0, "\(converted.stderr)")
    #expect(converted.stdout.contains("llama.cpp LoRA adapter") && converted.stdout.contains("--lora"))
    let modelfile = try String(contentsOfFile: dir.appendingPathComponent("adapter.Modelfile").path, encoding: .utf8)
    #expect(modelfile.contains("\nFROM \(Self.model)\n") && modelfile.contains("\nADAPTER \(gguf)\n"))

    // GGUF → PEFT gives back the same adapter file, byte for byte.
    let back = dir.appendingPathComponent("back").path
    #expect(try CLI.run(["convert", gguf, "--model", Self.model, "-o", back]).status == 0)
    let original = try Data(contentsOf: URL(fileURLWithPath: adapter + "/adapter_model.safetensors"))
    #expect(try Data(contentsOf: URL(fileURLWithPath: back + "/adapter_model.safetensors")) == original)

    // generate and eval give the same results with the directory and the GGUF file.
    func generated(_ adapter: String) throws -> [Int] {
      let result = try CLI.run([
        "generate", "--model", Self.model, "--adapter", adapter, "--prompt", "Normalize the date: May 1 2020",
        "--temperature", "0", "--max-tokens", "8", "--json",
      ])
      #expect(result.status == 0, "\(result.stderr)")
      return try result.decoded(CommandReport<Generate.Result>.self).result.generatedIDs
    }
    #expect(try generated(adapter) == generated(gguf))
    let text = dir.appendingPathComponent("text.txt")
    try Data("Dates: 2020-05-01, 1999-12-31 and 1970-01-01.".utf8).write(to: text)
    func perplexity(_ adapter: String) throws -> String {
      let result = try CLI.run(["eval", "--model", Self.model, "--adapter", adapter, "--text", text.path])
      #expect(result.status == 0, "\(result.stderr)")
      return result.stdout
    }
    #expect(try perplexity(adapter) == perplexity(gguf))
    // merge reads it too, and gives the same merged model.
    let fromDirectory = dir.appendingPathComponent("m1.gguf").path
    let fromGGUF = dir.appendingPathComponent("m2.gguf").path
    #expect(try CLI.run(["merge", "--model", Self.model, "--adapter", adapter, "-o", fromDirectory]).status == 0)
    #expect(try CLI.run(["merge", "--model", Self.model, "--adapter", gguf, "-o", fromGGUF]).status == 0)
    #expect(
      try Data(contentsOf: URL(fileURLWithPath: fromDirectory)) == Data(contentsOf: URL(fileURLWithPath: fromGGUF)))
  }

  @Test func badInputsNameTheFileAndWriteNothing() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let adapter = try trainAdapter(in: dir)
    func expectRefused(_ arguments: [String], mentions fragments: [String], output: String? = nil) throws {
      let result = try CLI.run(arguments)
      #expect(result.status != 0 && result.exited, "\(arguments): \(result.stderr)")
      for fragment in fragments {
        #expect(result.stderr.contains(fragment), "\(arguments): stderr lacks '\(fragment)': \(result.stderr)")
      }
      if let output { #expect(!FileManager.default.fileExists(atPath: output), "\(output) was written") }
    }
    // A model file given as the adapter.
    try expectRefused(
      ["generate", "--model", Self.model, "--adapter", Self.model, "--prompt", "hi"],
      mentions: [Self.model, "not 'adapter': this is a model file"])
    // An adapter converted for another base: the qwen2 fixture (another architecture and shapes).
    let wrongBase = dir.appendingPathComponent("wrong.gguf").path
    try expectRefused(
      ["convert", adapter, "--model", Self.qwen, "-o", wrongBase], mentions: ["adapter"], output: wrongBase)
    let gguf = dir.appendingPathComponent("adapter.gguf").path
    #expect(try CLI.run(["convert", adapter, "--model", Self.model, "-o", gguf]).status == 0)
    try expectRefused(
      ["generate", "--model", Self.qwen, "--adapter", gguf, "--prompt", "hi"],
      mentions: [gguf, "an adapter for a 'llama' model; the base model is 'qwen2'"])
    // An unsupported merge type, and an adapter converted to a model format.
    let merged = dir.appendingPathComponent("merged.gguf").path
    try expectRefused(
      ["merge", "--model", Self.model, "--adapter", gguf, "-o", merged, "--dtype", "q3_k"],
      mentions: ["--dtype", "q3_k"], output: merged)
    let nf4 = dir.appendingPathComponent("adapter.nf4").path
    try expectRefused(
      ["convert", adapter, "--model", Self.model, "-o", nf4], mentions: ["-o for an adapter"], output: nf4)
    try expectRefused(["convert", adapter, "-o", gguf + "2"], mentions: ["--model"], output: gguf + "2")
  }

  /// `merge --dtype q8_0` (and the other GGUF types) gives a model every verb loads, whose perplexity is the f32
  /// merge's to the type's rounding; a NaN in the adapter stops the merge with the tensor named and nothing written.
  @Test func quantizedMergesAndNonFiniteAdapters() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let adapter = try trainAdapter(in: dir)
    let text = dir.appendingPathComponent("text.txt")
    try Data("Dates: 2020-05-01, 1999-12-31 and 1970-01-01. Normalize the date: May 1 2020.".utf8).write(to: text)
    func perplexity(_ model: String) throws -> Double {
      let result = try CLI.run(["eval", "--model", model, "--text", text.path, "--json"])
      #expect(result.status == 0, "\(result.stderr)")
      return try result.decoded(CommandReport<Eval.TextResult>.self).result.perplexity
    }
    let f32 = dir.appendingPathComponent("merged-f32.gguf").path
    #expect(
      try CLI.run(["merge", "--model", Self.model, "--adapter", adapter, "-o", f32, "--dtype", "f32"]).status == 0)
    let reference = try perplexity(f32)
    for (type, tolerance) in [("q8_0", 0.01), ("q4_0", 0.25)] {
      let out = dir.appendingPathComponent("merged-\(type).gguf").path
      let result = try CLI.run(["merge", "--model", Self.model, "--adapter", adapter, "-o", out, "--dtype", type])
      #expect(result.status == 0, "\(result.stderr)")
      let measured = try perplexity(out)
      #expect(abs(measured / reference - 1) < tolerance, "\(type): \(measured) vs f32 \(reference)")
      #expect(measured != reference, "\(type) gave the f32 merge's perplexity exactly: was it quantized?")
    }

    let gguf = dir.appendingPathComponent("adapter.gguf").path
    #expect(try CLI.run(["convert", adapter, "--model", Self.model, "-o", gguf]).status == 0)
    // The last F32 value of the last tensor (ffn_down's lora_b) becomes NaN.
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: gguf))
    let end = try handle.seekToEnd()
    try handle.seek(toOffset: end - 4)
    try handle.write(contentsOf: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
    try handle.close()
    let merged = dir.appendingPathComponent("nan.gguf").path
    let result = try CLI.run(["merge", "--model", Self.model, "--adapter", gguf, "-o", merged])
    #expect(result.status == 1 && result.exited, "\(result.stderr)")
    #expect(result.stderr.contains("down_proj.weight' holds nan"), "\(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: merged))
  }
}
