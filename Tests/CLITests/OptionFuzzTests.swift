import Foundation
import Synchronization
import Testing

/// Issue 22: every numeric option of every verb at its edges (0, negative, NaN, infinity, huge). Each run ends with
/// exit 0 or a clean error (a non-zero exit with a message on stderr), never a signal or "Fatal error", and within
/// a short timeout. The verbs and their options are read from the binary itself (`--experimental-dump-help`), so
/// a new option is fuzzed without touching this file; a new verb fails `everyVerbHasArguments` until it is given
/// the arguments that make it run on the tiny fixture.
@Suite(.serialized) struct OptionFuzzTests {
  static let values = ["0", "-1", "nan", "inf", "1e30", "9223372036854775807", "1099511627776"]
  /// Options whose huge values ask for a run of that length: killed after `startTimeout`, they pass if the run had
  /// started (said something on stderr and did not crash). Every other run must finish within `timeout`.
  static let lengthOptions: Set = ["steps", "epochs", "repeats", "ppo-epochs", "rollouts"]
  static let startTimeout = 2.0
  static let timeout = 10.0
  static let model = NumberOptionTests.model

  /// The files the verbs read, made once: data, preference pairs, prompts, a text, an adapter, a reward model and a
  /// report.
  struct Fixture {
    let dir: URL
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    static let shared: Result<Fixture, any Error> = Result { try Fixture() }

    init() throws {
      dir = try CLI.temporaryDirectory()
      let text = (0..<4).map { "{\"text\": \"the quick brown fox number \($0) jumps over the lazy dog\"}" }
      let pairs = (0..<4).map { "{\"prompt\": \"Q\($0)?\", \"chosen\": \"Yes \($0).\", \"rejected\": \"No.\"}" }
      for (name, lines) in [
        ("data.jsonl", text), ("pairs.jsonl", pairs), ("prompts.jsonl", ["{\"prompt\": \"Say hi.\"}"]),
        ("text.txt", ["the quick brown fox jumps over the lazy dog"]),
      ] {
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent(name))
      }
      let common = ["--model", OptionFuzzTests.model, "--seq-len", "32", "--steps", "1", "--val-fraction", "0"]
      for arguments in [
        ["train", "lora", "--data", path("data.jsonl"), "--out", path("adapter"), "--report", path("report.json")],
        ["train", "reward", "--data", path("pairs.jsonl"), "--out", path("reward")],
      ] {
        let result = try CLI.run(arguments + common)
        guard result.status == 0 else { throw CLIError.notJSON("fixture run failed: \(result.stderr)") }
      }
    }
  }

  /// The command line that makes each verb run on the tiny fixture, by verb; `{out}` is a fresh output path per run.
  static func arguments(_ f: Fixture) -> [String: [String]] {
    Dictionary(
      uniqueKeysWithValues: options(f).map { verb, rest in (verb, verb.split(separator: " ").map(String.init) + rest) })
  }

  /// The options of each verb's command line.
  static func options(_ f: Fixture) -> [String: [String]] {
    let m = model
    let training = ["--model", m, "--seq-len", "32", "--steps", "1", "--val-fraction", "0"]
    let sft = training + ["--data", f.path("data.jsonl")]
    let pairs = training + ["--data", f.path("pairs.jsonl")]
    return [
      "train lora": sft + ["--out", "{out}"], "train prompt": sft + ["--out", "{out}"],
      "train adapter": sft + ["--out", "{out}"], "train ia3": sft + ["--out", "{out}"],
      "train selective": sft + ["--out", "{out}"], "train reward": pairs + ["--out", "{out}"],
      "train dpo": pairs + ["--out", "{out}"],
      "train ppo": training + [
        "--reward", f.path("reward"), "--prompts", f.path("prompts.jsonl"), "--rollouts", "2", "--mini-batch", "2",
        "--ppo-epochs", "1", "--max-new-tokens", "4", "--out", "{out}",
      ],
      "plan": sft, "profile": sft + ["--out", "{out}"],
      "generate": ["-m", m, "--prompt", "hi", "--max-tokens", "1"], "eval": ["-m", m, "--text", f.path("text.txt")],
      "convert": [m, "--output", "{out}.nf4"],
      "merge": ["--model", m, "--adapter", f.path("adapter"), "--output", "{out}.gguf"],
      "tokenize": ["--model", m, "--text", "hello"],
      "score": ["--model", m, "--reward", f.path("reward"), "--prompt", "hi", "--completion", "there"],
      "bench": ["--model", m, "--prompt-tokens", "4", "--generate-tokens", "1", "--repeats", "1"],
      "inspect": [m], "report": [f.path("report.json"), "--output", "{out}.html"],
      "synthesize": [
        "--tokenizer-from", m, "--output", "{out}.nf4", "--hidden", "32", "--intermediate", "64", "--layers", "1",
        "--heads", "2", "--kv-heads", "1", "--context", "64",
      ],
    ]
  }

  /// The help dump of `verb` (CommandInfoV0's command object).
  static func dump(_ verb: [String]) throws -> [String: Any] {
    let result = try CLI.run(verb + ["--experimental-dump-help"])
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    return object?["command"] as? [String: Any] ?? [:]
  }

  /// Every verb the binary has, as the words that name it ("train lora"), leaves only.
  static func verbs() throws -> [String] {
    func leaves(_ command: [String: Any], path: [String]) -> [String] {
      let children = (command["subcommands"] as? [[String: Any]] ?? []).filter {
        $0["commandName"] as? String != "help"
      }
      guard !children.isEmpty else { return [path.joined(separator: " ")] }
      return children.flatMap { leaves($0, path: path + [$0["commandName"] as? String ?? "?"]) }
    }
    return leaves(try dump([]), path: [])
  }

  /// The visible options of `verb` that take a number: their default is a number, or (without a default) the parser
  /// refuses a word for them ("is invalid for"), or their value is a size (--budget). Probing only the options
  /// without a default keeps the probes to a few seconds.
  static func numericOptions(_ verb: String) throws -> [String] {
    let words = verb.split(separator: " ").map(String.init)
    let options = (try dump(words)["arguments"] as? [[String: Any]] ?? []).filter {
      $0["kind"] as? String == "option" && $0["shouldDisplay"] as? Bool == true
    }
    return try options.compactMap { option in
      guard let name = (option["preferredName"] as? [String: Any])?["name"] as? String else { return nil }
      if option["valueName"] as? String == "size" { return name }
      if let value = option["defaultValue"] as? String { return Double(value) != nil ? name : nil }
      let probe = try CLI.run(words + ["--\(name)", "not-a-number"])
      return probe.stderr.contains("is invalid for") ? name : nil
    }
  }

  @Test func everyVerbHasArguments() throws {
    let fixture = try Fixture.shared.get()
    let known = Set(Self.arguments(fixture).keys)
    let verbs = try Self.verbs()
    #expect(verbs.count >= 20, "\(verbs)")
    for verb in verbs { #expect(known.contains(verb), "no fuzz arguments for `\(verb)`: add them to arguments(_:)") }
  }

  @Test func everyVerbRunsWithItsArguments() throws {
    let fixture = try Fixture.shared.get()
    let runs = Self.arguments(fixture).sorted { $0.key < $1.key }.map { verb, arguments in
      Run(verb: verb, option: nil, value: nil, arguments: arguments)
    }
    for outcome in try Self.execute(runs, in: fixture) {
      #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome.run.verb): \(outcome.stderr)")
    }
  }

  @Test func numericOptionsAtTheirEdges() throws {
    let fixture = try Fixture.shared.get()
    let started = ContinuousClock.now
    var runs: [Run] = []
    for (verb, arguments) in Self.arguments(fixture).sorted(by: { $0.key < $1.key }) {
      for option in try Self.numericOptions(verb) {
        for value in Self.values {
          runs.append(Run(verb: verb, option: option, value: value, arguments: arguments + ["--\(option)=\(value)"]))
        }
      }
    }
    #expect(runs.count > 1000, "only \(runs.count) runs: are the options still found?")
    for o in try Self.execute(runs, in: fixture) {
      let what = "\(o.run.verb) --\(o.run.option ?? "")=\(o.run.value ?? "")"
      #expect(!o.stderr.contains("Fatal error"), "\(what): \(o.stderr.suffix(600))")
      if o.timedOut {
        #expect(Self.lengthOptions.contains(o.run.option ?? ""), "\(what): still running after \(Self.timeout) s")
        #expect(!o.stderr.isEmpty, "\(what): ran \(Self.startTimeout) s without a word")
        continue
      }
      #expect(o.exited, "\(what): died of signal \(o.status): \(o.stderr.suffix(600))")
      if o.status != 0 { #expect(!o.stderr.isEmpty, "\(what): exit \(o.status) without a message") }
    }
    print("option fuzz: \(runs.count) runs in \(ContinuousClock.now - started)")
  }

  struct Run: Sendable {
    var verb: String
    var option: String?
    var value: String?
    var arguments: [String]
  }

  struct Outcome: Sendable {
    var run: Run
    var status: Int32
    var exited: Bool
    var timedOut: Bool
    var stderr: String
  }

  /// Runs every `run` with the timeout, three at a time, each in a fresh directory for its `{out}`.
  static func execute(_ runs: [Run], in fixture: Fixture) throws -> [Outcome] {
    let outcomes = Mutex<[Outcome]>([])
    let width = 3
    DispatchQueue.concurrentPerform(iterations: width) { lane in
      for index in stride(from: lane, to: runs.count, by: width) {
        let scratch = fixture.dir.appendingPathComponent("run-\(index)")
        try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let run = runs[index]
        let out = scratch.appendingPathComponent("out").path
        let arguments = run.arguments.map { $0.replacingOccurrences(of: "{out}", with: out) }
        let outcome = Self.run(run, arguments: arguments, in: scratch)
        outcomes.withLock { $0.append(outcome) }
        try? FileManager.default.removeItem(at: scratch)
      }
    }
    return outcomes.withLock { $0 }
  }

  /// One child with the timeout; stderr goes to a file (a pipe could fill while nobody reads it).
  static func run(_ run: Run, arguments: [String], in scratch: URL) -> Outcome {
    let errPath = scratch.appendingPathComponent("stderr").path
    FileManager.default.createFile(atPath: errPath, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLI.binary)
    process.arguments = arguments
    process.currentDirectoryURL = scratch
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle(forWritingAtPath: errPath)
    do { try process.run() } catch {
      return Outcome(run: run, status: -1, exited: false, timedOut: false, stderr: "\(error)")
    }
    let deadline = Date().addingTimeInterval(lengthOptions.contains(run.option ?? "") ? startTimeout : timeout)
    while process.isRunning && Date() < deadline { usleep(5_000) }
    let timedOut = process.isRunning
    if timedOut { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return Outcome(
      run: run, status: process.terminationStatus, exited: process.terminationReason == .exit, timedOut: timedOut,
      stderr: stderr)
  }
}
