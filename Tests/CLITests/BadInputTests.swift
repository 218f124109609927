import Foundation
import Testing

/// Bad input reaches the user as a clear message naming the file and a non-zero exit, never a crash.
@Suite struct BadInputTests {
  /// A crash (trap) ends the child with a signal; an error is a normal exit with a non-zero status
  /// (1 for errors, 64 for usage errors from the argument parser).
  func expectCleanFailure(
    _ result: CLIResult, mentions fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(result.status != 0, sourceLocation: sourceLocation)
    #expect(result.exited, "the child died of signal \(result.status): a crash", sourceLocation: sourceLocation)
    for fragment in fragments {
      #expect(
        result.stderr.contains(fragment), "stderr lacks '\(fragment)': \(result.stderr)", sourceLocation: sourceLocation
      )
    }
  }

  @Test func missingFile() throws {
    let result = try CLI.run(["inspect", "/nonexistent/model.gguf"])
    expectCleanFailure(result, mentions: ["/nonexistent/model.gguf", "no such file"])
  }

  @Test func wrongMagic() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("not-a-model.gguf").path
    try Data("PK\u{3}\u{4} this is a zip file, not a GGUF".utf8).write(to: URL(fileURLWithPath: path))
    expectCleanFailure(try CLI.run(["inspect", path]), mentions: [path, "not a GGUF file"])
    expectCleanFailure(try CLI.run(["generate", "-m", path, "--prompt", "hi"]), mentions: [path])
  }

  @Test(.enabled(if: CLI.haveModel)) func truncatedGGUF() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let model = try FileHandle(forReadingFrom: URL(fileURLWithPath: CLI.modelPath))
    defer { try? model.close() }
    // Cut inside the metadata (the token list), and inside the tensor data.
    for (name, length) in [("header.gguf", 200_000), ("data.gguf", 50_000_000)] {
      try model.seek(toOffset: 0)
      let head = model.readData(ofLength: length)
      let path = dir.appendingPathComponent(name).path
      try head.write(to: URL(fileURLWithPath: path))
      let result = try CLI.run(["generate", "-m", path, "--prompt", "hello", "--max-tokens", "2"])
      expectCleanFailure(result, mentions: [path])
      #expect(result.stderr.contains("truncated") || result.stderr.contains("spans bytes"), "\(result.stderr)")
    }
  }

  @Test(.enabled(if: CLI.haveHFCopy)) func missingTokenizer() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    for name in ["config.json", "model.safetensors"] {
      try FileManager.default.createSymbolicLink(
        atPath: dir.appendingPathComponent(name).path, withDestinationPath: CLI.hfCopyPath + "/" + name)
    }
    expectCleanFailure(
      try CLI.run(["generate", "-m", dir.path, "--prompt", "hi"]), mentions: ["tokenizer.json is missing"])
  }

  @Test(.enabled(if: CLI.haveHFCopy)) func invalidUTF8InConfigJSON() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    try FileManager.default.createSymbolicLink(
      atPath: dir.appendingPathComponent("model.safetensors").path,
      withDestinationPath: CLI.hfCopyPath + "/model.safetensors")
    var bytes = Data("{\"model_type\": \"llama\", \"name\": \"".utf8)
    bytes.append(contentsOf: [0xFF, 0xFE, 0xC3])
    bytes.append(Data("\"}".utf8))
    let config = dir.appendingPathComponent("config.json")
    try bytes.write(to: config)
    expectCleanFailure(
      try CLI.run(["generate", "-m", dir.path, "--prompt", "hi"]), mentions: [config.path, "invalid JSON"])
  }

  @Test func unsupportedArchitecture() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    try Data("{\"model_type\": \"gpt_neox\"}".utf8).write(to: dir.appendingPathComponent("config.json"))
    // An empty but valid safetensors file: 8-byte length, "{}" padded.
    var st = Data([8, 0, 0, 0, 0, 0, 0, 0])
    st.append(Data("{}      ".utf8))
    try st.write(to: dir.appendingPathComponent("model.safetensors"))
    expectCleanFailure(
      try CLI.run(["generate", "-m", dir.path, "--prompt", "hi"]), mentions: ["gpt_neox", "not supported"])
  }

  @Test func invalidOptions() throws {
    let result = try CLI.run(["generate", "-m", "x.gguf"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("--prompt") && result.stderr.contains("--chat"))
    let threads = try CLI.run(["eval", "-m", "x.gguf", "--text", "t.txt", "--threads", "0"])
    #expect(threads.status != 0 && threads.stderr.contains("--threads"))
  }

  @Test(.enabled(if: CLI.haveModel)) func missingEvalText() throws {
    let result = try CLI.run(["eval", "-m", CLI.modelPath, "--text", "/nonexistent.txt"])
    expectCleanFailure(result, mentions: ["/nonexistent.txt"])
  }
}

/// Number options at their edges (issue 22): a clear usage error, or the documented meaning, never a trap.
@Suite struct NumberOptionTests {
  static let model = CLI.fixtures.appendingPathComponent("tiny/llama-mixed.tiny-gguf").path
  static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Tools/data/dates/train.jsonl").path

  func train(_ extra: [String], out: String) throws -> CLIResult {
    try CLI.run(
      ["train", "lora", "--model", Self.model, "--data", Self.data, "--seq-len", "96", "--steps", "2", "--out", out]
        + extra)
  }

  /// 0 turns clipping off (Hugging Face's Trainer's meaning); NaN and negative norms are refused before loading.
  @Test func maxGradNorm() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let off = try train(["--max-grad-norm", "0"], out: dir.appendingPathComponent("off").path)
    #expect(off.status == 0, "\(off.stderr)")
    for value in ["nan", "-1", "inf"] {
      let out = dir.appendingPathComponent("bad").path
      let result = try train(["--max-grad-norm=\(value)"], out: out)
      #expect(result.exited && result.status == 64, "\(value): \(result.status) \(result.stderr)")
      #expect(result.stderr.contains("--max-grad-norm must be 0 (no clipping) or a positive number"), "\(value)")
      #expect(!FileManager.default.fileExists(atPath: out))
    }
    let decay = try train(["--weight-decay=nan"], out: dir.appendingPathComponent("decay").path)
    #expect(decay.status == 64 && decay.stderr.contains("--weight-decay must be"), "\(decay.stderr)")
  }
}
