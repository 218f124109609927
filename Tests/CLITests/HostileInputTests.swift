import Foundation
import Testing

/// The bad inputs issue 22 found still breaking EdgeTune, each reproduced on the tiny fixture model: every one must
/// now end in a clear message naming what was wrong, a non-zero exit, nothing half-written and no trap or hang.
@Suite struct HostileInputTests {
  static let model = NumberOptionTests.model
  static let data = NumberOptionTests.data

  func train(_ extra: [String], out: String, data: String = Self.data) throws -> CLIResult {
    try CLI.run(["train", "lora", "--model", Self.model, "--data", data, "--seq-len", "96", "--out", out] + extra)
  }

  /// A failure that exited (no signal) with status 1 or 64 and says each of `fragments` on stderr.
  func expectRefused(
    _ result: CLIResult, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(result.exited, "died of signal \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.status == 1 || result.status == 64, "status \(result.status)", sourceLocation: sourceLocation)
    for fragment in fragments {
      #expect(result.stderr.contains(fragment), "no '\(fragment)' in: \(result.stderr)", sourceLocation: sourceLocation)
    }
    #expect(!result.stderr.contains("train: "), "training started", sourceLocation: sourceLocation)
  }

  /// Finding 1: a sequence of 1e9 tokens overflowed the plan before the context check (train, plan, profile); a batch
  /// of 2^40 rows aborted on a 32 TiB allocation after the plan said 115.8 MiB; a batch beyond the data ran silently.
  @Test func absurdSizesAreRefusedBeforeTheRun() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out").path
    let common = ["--model", Self.model, "--data", Self.data, "--steps", "1"]
    for verb in [["train", "lora", "--out", out], ["plan"], ["profile", "--out", out]] {
      let result = try CLI.run(verb + common + ["--seq-len", "1000000000"])
      expectRefused(result, ["--seq-len: must be at most the model's context length 128, not 1000000000"])
    }
    let overflow = try train(["--steps", "1", "--batch", "9223372036854775807"], out: out)
    expectRefused(overflow, ["--batch", "more tokens per step than can be counted"])
    let huge = try train(["--steps", "1", "--batch", "1099511627776"], out: out)
    expectRefused(huge, ["needs at least", "more than this machine's memory", "lower the batch size"])
    #expect(!FileManager.default.fileExists(atPath: out))

    let small = dir.appendingPathComponent("small.jsonl").path
    try Data("{\"text\": \"one short line of training text\"}\n".utf8).write(to: URL(fileURLWithPath: small))
    let repeated = try train(["--steps", "1", "--batch", "4", "--val-fraction", "0"], out: out, data: small)
    #expect(repeated.status == 0, "\(repeated.stderr)")
    #expect(repeated.stderr.contains("notice: one step reads 384 tokens (batch 4 × seqLen 96 × gradAccum 1)"))
    #expect(repeated.stderr.contains("every step repeats the data"), "\(repeated.stderr)")
  }

  /// Finding 2: one long JSONL line took all the memory. A line past the cap is an error naming its line.
  @Test func overlongLineIsAnError() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("long.jsonl").path
    var bytes = Data("{\"text\": \"a fine first line\"}\n{\"text\": \"".utf8)
    bytes.append(Data(repeating: UInt8(ascii: "x"), count: (64 << 20) + 16))
    bytes.append(Data("\"}\n".utf8))
    try bytes.write(to: URL(fileURLWithPath: path))
    let result = try train(["--steps", "1"], out: dir.appendingPathComponent("out").path, data: path)
    expectRefused(result, ["\(path):2: the line is longer than 64.0 MiB, the limit for one record"])
  }

  /// Finding 3: a FIFO with no writer as an input blocked forever. Every file input is refused at once.
  @Test func fifoInputsAreRefused() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let fifo = dir.appendingPathComponent("fifo").path
    #expect(mkfifo(fifo, 0o600) == 0)
    let out = dir.appendingPathComponent("out").path
    let notRegular = "not a regular file (a directory, FIFO or device)"
    expectRefused(try train(["--steps", "1"], out: out, data: fifo), [fifo, notRegular])
    expectRefused(try train(["--steps", "1", "--val", fifo], out: out), [fifo, notRegular])
    expectRefused(try CLI.run(["inspect", fifo]), [fifo, notRegular])
    expectRefused(try CLI.run(["eval", "-m", Self.model, "--text", fifo]), ["--text", fifo, notRegular])
    expectRefused(try CLI.run(["generate", "-m", Self.model, "--prompts", fifo]), ["--prompts", fifo, notRegular])
    expectRefused(try CLI.run(["report", fifo]), [fifo, notRegular])
  }

  /// Finding 4: a checkpoint whose step is negative trapped; one past --steps looked like a finished run.
  @Test func checkpointStepsOutOfRange() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out").path
    let first = try train(["--steps", "2", "--save-every", "1"], out: out)
    #expect(first.status == 0, "\(first.stderr)")
    let checkpoint = out + ".checkpoints/checkpoint-1"
    let statePath = checkpoint + "/trainer_state.json"
    let state = try String(contentsOfFile: statePath, encoding: .utf8)
    #expect(state.contains("\"step\":1"), "\(state)")
    for (step, message) in [
      (-3, "step -3 is negative: the file is damaged"),
      (
        50, "the checkpoint is at step 50, past this run's last step 2; to continue training it, run more steps than 50"
      ),
    ] {
      try state.replacingOccurrences(of: "\"step\":1", with: "\"step\":\(step)")
        .write(toFile: statePath, atomically: true, encoding: .utf8)
      let resumed = try train(
        ["--steps", "2", "--resume", checkpoint], out: dir.appendingPathComponent("resumed").path)
      #expect(resumed.exited && resumed.status == 1, "\(step): \(resumed.status) \(resumed.stderr)")
      #expect(resumed.stderr.contains(message), "\(resumed.stderr)")
      #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("resumed").path))
    }
  }

  /// Finding 8: `--lr -1` read as "Missing value for '--lr'": the option's own check must speak instead.
  @Test func negativeNumbersAfterASpace() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out").path
    for (option, message) in [
      ("--lr", "--lr must be positive, got -1.0"), ("--steps", "--steps must be at least 1, got -1"),
      ("--batch", "--batch must be at least 1, got -1"), ("--warmup", "--warmup must be 0 or more, got -1"),
      ("--max-grad-norm", "--max-grad-norm must be 0 (no clipping) or a positive number, not -1.0"),
    ] {
      let result = try train([option, "-1"], out: out)
      #expect(result.exited && result.status == 64, "\(option): \(result.stderr)")
      #expect(result.stderr.contains(message), "\(option): \(result.stderr)")
      #expect(!result.stderr.contains("Missing value"), "\(option): \(result.stderr)")
    }
  }
}

/// Findings 6 and 7: what EdgeTune writes is verifiable, and an output that cannot be written or a run that is
/// interrupted loses or leaves nothing.
@Suite struct HostileOutputTests {
  static let model = NumberOptionTests.model
  static let data = NumberOptionTests.data

  /// A LoRA adapter trained for one step on the tiny model, in `dir`.
  func adapter(in dir: URL) throws -> String {
    let out = dir.appendingPathComponent("adapter").path
    let result = try CLI.run(
      ["train", "lora", "--model", Self.model, "--data", Self.data, "--seq-len", "96", "--steps", "1", "--out", out])
    #expect(result.status == 0, "\(result.stderr)")
    return out
  }

  /// Rewrites the safetensors header of `path` in place (the same length, padded with spaces): `change` edits the
  /// `__metadata__` strings.
  func editMetadata(_ path: String, _ change: (inout [String: String]) -> Void) throws {
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    let length = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    var header = try #require(try JSONSerialization.jsonObject(with: bytes[8..<(8 + length)]) as? [String: Any])
    var metadata = try #require(header["__metadata__"] as? [String: String])
    change(&metadata)
    header["__metadata__"] = metadata
    var text = try JSONSerialization.data(withJSONObject: header, options: [.withoutEscapingSlashes])
    try #require(text.count <= length, "the edited header no longer fits")
    text.append(Data(repeating: UInt8(ascii: " "), count: length - text.count))
    bytes.replaceSubrange(8..<(8 + length), with: text)
    try bytes.write(to: URL(fileURLWithPath: path))
  }

  /// Finding 6: `inspect --verify` refused exported .safetensors that carry checksums, and passed damaged metadata
  /// and checksums of tensors the file does not hold.
  @Test func verifyChecksExportsAndCatchesDamage() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let adapter = try adapter(in: dir)
    let merged = dir.appendingPathComponent("merged.safetensors").path
    let merge = try CLI.run(["merge", "--model", Self.model, "--adapter", adapter, "-o", merged, "--dtype", "f32"])
    #expect(merge.status == 0, "\(merge.stderr)")
    let clean = try CLI.run(["inspect", "--verify", merged])
    #expect(clean.status == 0 && clean.stderr.contains("tensor checksums match"), "\(clean.stderr)")
    let weights = adapter + "/adapter_model.safetensors"
    #expect(try CLI.run(["inspect", "--verify", weights]).status == 0, "the adapter's own file verifies too")

    let damaged = dir.appendingPathComponent("damaged.safetensors").path
    try FileManager.default.copyItem(atPath: merged, toPath: damaged)
    try editMetadata(damaged) { metadata in
      let key = metadata.keys.sorted().first { $0 != "edgetune.checksums" } ?? "format"
      metadata[key] = (metadata[key] ?? "") + "!"
    }
    let metadataResult = try CLI.run(["inspect", "--verify", damaged])
    #expect(metadataResult.exited && metadataResult.status == 1, "\(metadataResult.stderr)")
    #expect(metadataResult.stderr.contains("the metadata is damaged"), "\(metadataResult.stderr)")

    let orphan = dir.appendingPathComponent("orphan.safetensors").path
    try FileManager.default.copyItem(atPath: merged, toPath: orphan)
    try editMetadata(orphan) { metadata in
      let checksums = metadata["edgetune.checksums"] ?? "{}"
      metadata["edgetune.checksums"] = "{\"ghost.weight\":\"crc32:00000000\"," + checksums.dropFirst()
    }
    let orphanResult = try CLI.run(["inspect", "--verify", orphan])
    #expect(orphanResult.exited && orphanResult.status == 1, "\(orphanResult.stderr)")
    #expect(orphanResult.stderr.contains("'ghost.weight', a tensor the file does not hold"), "\(orphanResult.stderr)")
  }

  /// Finding 7, first half: an output that conflicts was found only after training, and the result was lost.
  @Test func outputConflictsAreFoundBeforeWork() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let foreign = dir.appendingPathComponent("notes")
    try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: true)
    try Data("mine".utf8).write(to: foreign.appendingPathComponent("notes.txt"))
    let file = dir.appendingPathComponent("file").path
    try Data("x".utf8).write(to: URL(fileURLWithPath: file))
    let missing = dir.appendingPathComponent("missing/report.json").path
    let train = ["train", "lora", "--model", Self.model, "--data", Self.data, "--seq-len", "96", "--steps", "1"]
    for (arguments, message) in [
      (["--out", foreign.path], "holds 'notes.txt', which is not part of an adapter; refusing to replace it"),
      (["--out", file], "cannot write \(file): it exists and is not a directory"),
      (["--out", dir.appendingPathComponent("a").path, "--report", missing], "does not exist"),
      (
        ["--out", dir.appendingPathComponent("b").path, "--save-every", "1", "--report-html", dir.path],
        "is a directory"
      ),
    ] {
      let result = try CLI.run(train + arguments)
      #expect(result.exited && result.status == 1, "\(arguments): \(result.stderr)")
      #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
      #expect(!result.stderr.contains("train: "), "\(arguments): training started before the output was checked")
    }
    let merge = try CLI.run(["merge", "--model", Self.model, "--adapter", foreign.path, "-o", missing + ".gguf"])
    #expect(merge.status == 1 && merge.stderr.contains("does not exist"), "\(merge.stderr)")
  }

  /// Finding 7: nothing removed the .partial files a killed run (SIGKILL) leaves; the next run into the same output
  /// does, and says so.
  @Test func leftoversOfAKilledRunAreRemovedByTheNext() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out").path
    let leftovers = [out + ".partial-k1ll3d", out + ".checkpoints/checkpoint-3.partial-42"]
    for path in leftovers {
      try FileManager.default.createDirectory(atPath: path + "/adapter", withIntermediateDirectories: true)
    }
    let result = try CLI.run([
      "train", "lora", "--model", Self.model, "--data", Self.data, "--seq-len", "96", "--steps", "1", "--out", out,
    ])
    #expect(result.status == 0, "\(result.stderr)")
    for path in leftovers {
      #expect(!FileManager.default.fileExists(atPath: path))
      #expect(result.stderr.contains("removed \(path), left by an interrupted run"), "\(result.stderr)")
    }
  }

  /// Finding 7, second half: .partial files survived SIGINT and SIGTERM. A run stopped while it writes a
  /// checkpoint every step leaves no temporary file or directory behind, and still ends by the signal.
  @Test func interruptedRunLeavesNoPartialFiles() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    for signalNumber in [SIGINT, SIGTERM] {
      let out = dir.appendingPathComponent("out-\(signalNumber)").path
      let process = Process()
      process.executableURL = URL(fileURLWithPath: CLI.binary)
      process.arguments = [
        "train", "lora", "--model", Self.model, "--data", Self.data, "--seq-len", "96", "--steps", "100000",
        "--save-every", "1", "--out", out,
      ]
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      try process.run()
      let checkpoints = out + ".checkpoints"
      var saved = 0
      for _ in 0..<600 where saved < 5 {
        usleep(20_000)
        saved = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints))?.count ?? 0
      }
      kill(process.processIdentifier, signalNumber)
      process.waitUntilExit()
      #expect(saved >= 5, "the run saved no checkpoints")
      #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signalNumber)
      let left = FileManager.default.enumerator(atPath: dir.path)?.compactMap { $0 as? String } ?? []
      #expect(
        left.filter { $0.contains(".partial-") }.isEmpty, "left behind: \(left.filter { $0.contains(".partial-") })")
    }
  }
}
