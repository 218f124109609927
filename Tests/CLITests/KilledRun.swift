import Foundation
import Testing

/// A training command killed with SIGKILL (no chance to clean up) and resumed: what `InterruptedTrainingTests` checks
/// for every method (and `DiskFullTests` after a full disk stopped a run). The run saves a checkpoint at every step (for
/// PPO: every batch) and is killed once `checkpoints` complete ones exist, either at once or halfway through a step
/// (the average interval between checkpoints, halved); then every checkpoint under its final name must be whole, and
/// resuming from the last one for one more step must give the same result files, bit for bit, as an uninterrupted run
/// of that many steps. (On the tiny fixture a step and its checkpoint take milliseconds, so either point lands at some
/// phase of a step or of a save; a PPO batch is longer, and .midStep lands inside it.)
struct KilledRun {
  /// The command without --steps, --save-every, --out or --resume; its learning rate must not depend on --steps
  /// (`--schedule constant`), so the killed run and the short runs follow the same schedule.
  var command: [String]
  /// Optimizer steps per --steps unit (PPO: a batch's epochs × minibatches), as checkpoint names count them.
  var stepsPerUnit = 1
  var directory: URL

  enum KillPoint: String, CaseIterable, Sendable {
    /// As soon as the checkpoint is there (the next step or the next save just begun).
    case atCheckpoint
    /// Halfway to the next checkpoint: mid-step, for PPO mid-batch (rollouts sampled, some minibatches done).
    case midStep
  }

  /// The complete checkpoints' step numbers in `checkpoints` (a killed write leaves only a .partial directory).
  static func completeCheckpoints(in checkpoints: URL) -> [Int] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? []
    return names.filter { !$0.contains(".partial") }.compactMap { Int($0.dropFirst("checkpoint-".count)) }.sorted()
  }

  /// Kills the run at `point` once `checkpoints` complete checkpoints exist, checks what it left, resumes and
  /// compares. Returns the step it resumed from.
  @discardableResult
  func check(after checkpoints: Int, at point: KillPoint) throws -> Int {
    let out = directory.appendingPathComponent("killed").path
    let checkpointDirectory = URL(fileURLWithPath: out + ".checkpoints")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLI.binary)
    process.arguments = command + ["--steps", "1000000", "--save-every", "1", "--out", out]
    let log = directory.appendingPathComponent("killed.log")
    FileManager.default.createFile(atPath: log.path, contents: nil)
    process.standardOutput = FileHandle.nullDevice
    process.standardError = try FileHandle(forWritingTo: log)
    try process.run()
    // When the count of complete checkpoints changed, and to what: the average time per checkpoint for .midStep.
    var seen: [(time: ContinuousClock.Instant, count: Int)] = []
    func ready() -> Bool {
      guard let last = seen.last, last.count >= checkpoints else { return false }
      return point == .atCheckpoint || last.count > seen[0].count
    }
    let deadline = ContinuousClock.now + .seconds(120)
    while !ready() && process.isRunning && ContinuousClock.now < deadline {
      usleep(2_000)
      let count = Self.completeCheckpoints(in: checkpointDirectory).count
      if count > 0 && count != seen.last?.count { seen.append((.now, count)) }
    }
    if point == .midStep, let first = seen.first, let last = seen.last, last.count > first.count {
      let interval = (last.time - first.time) / (last.count - first.count)
      Thread.sleep(forTimeInterval: (interval / 2) / .seconds(1))
    }
    let running = process.isRunning
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    let stderr = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    try #require(running, "the run ended before it was killed: \(command)\n\(stderr.suffix(1000))")
    try #require(ready(), "no checkpoint \(checkpoints) within 2 minutes: \(command)")
    #expect(process.terminationReason == .uncaughtSignal)
    #expect(!FileManager.default.fileExists(atPath: out), "the final result exists only when a run finishes")

    return try resumeMatchesUninterrupted(checkpoints: checkpointDirectory)
  }

  /// Every checkpoint in `checkpoints` is whole, and one more --steps unit from the last one gives the same result
  /// files, bit for bit, as an uninterrupted run. Returns the step it resumed from.
  func resumeMatchesUninterrupted(checkpoints: URL) throws -> Int {
    let complete = Self.completeCheckpoints(in: checkpoints)
    for step in complete {
      let checkpoint = checkpoints.appendingPathComponent("checkpoint-\(step)").path
      for part in ["adapter/adapter_config.json", "optimizer.safetensors", "trainer_state.json"] {
        #expect(FileManager.default.fileExists(atPath: checkpoint + "/" + part), "checkpoint-\(step) lacks \(part)")
      }
      #expect(!Self.results(checkpoint + "/adapter").isEmpty, "checkpoint-\(step) has no weights")
    }
    let last = try #require(complete.last, "no complete checkpoint in \(checkpoints.path)")
    #expect(last % stepsPerUnit == 0, "checkpoint-\(last) is not on a --steps boundary")
    let steps = ["--steps", "\(last / stepsPerUnit + 1)"]
    let checkpoint = checkpoints.appendingPathComponent("checkpoint-\(last)").path
    let resumedPath = directory.appendingPathComponent("resumed").path
    let resumed = try CLI.run(command + steps + ["--resume", checkpoint, "--out", resumedPath])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let straightPath = directory.appendingPathComponent("straight").path
    let straight = try CLI.run(command + steps + ["--out", straightPath])
    #expect(straight.status == 0, "\(straight.stderr)")
    let files = Self.results(straightPath)
    #expect(!files.isEmpty && files == Self.results(resumedPath), "\(files) vs \(Self.results(resumedPath))")
    for file in files {
      let a = try Data(contentsOf: URL(fileURLWithPath: resumedPath + "/" + file))
      let b = try Data(contentsOf: URL(fileURLWithPath: straightPath + "/" + file))
      #expect(a == b, "\(file): resuming differs from the uninterrupted run (\(command))")
    }
    return last
  }

  /// The weight files a run writes (adapter, value head, score head): every .safetensors in `directory`.
  static func results(_ directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".safetensors") }
      .sorted()
  }
}
