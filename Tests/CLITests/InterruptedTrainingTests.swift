import Foundation
import Testing

/// A training run killed with SIGKILL (no chance to clean up) loses nothing it had saved: every checkpoint directory
/// under its final name is complete, and resuming from the last one continues exactly as the uninterrupted run did.
@Suite struct InterruptedTrainingTests {
  @Test(.enabled(if: CLI.haveModel)) func killedRunKeepsCompleteCheckpointsAndResumesExactly() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("killed").path
    // A constant rate: the killed run (500 steps planned) and the short runs follow the same schedule.
    let common = [
      "train", "lora", "--model", nf4, "--data", BudgetTests.data, "--val-fraction", "0", "--seq-len", "64",
      "--schedule", "constant",
    ]
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLI.binary)
    process.arguments = common + ["--steps", "500", "--save-every", "1", "--out", out]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let checkpoints = URL(fileURLWithPath: out + ".checkpoints")
    func names() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? [] }
    var ready = false
    for _ in 0..<1200 where !ready {
      usleep(50_000)
      ready = names().contains("checkpoint-3")
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    #expect(ready, "no third checkpoint appeared")
    #expect(process.terminationReason == .uncaughtSignal)
    #expect(!FileManager.default.fileExists(atPath: out), "the final adapter exists only when a run finishes")

    // Every checkpoint under its final name is whole (a killed write leaves only a .partial directory).
    let complete = names().filter { $0.hasPrefix("checkpoint-") && !$0.contains(".partial") }
    #expect(complete.count >= 3)
    for name in complete {
      for part in [
        "adapter/adapter_config.json", "adapter/adapter_model.safetensors", "optimizer.safetensors",
        "trainer_state.json",
      ] {
        #expect(
          FileManager.default.fileExists(atPath: checkpoints.appendingPathComponent(name + "/" + part).path),
          "\(name) lacks \(part)")
      }
    }
    let last = try #require(complete.compactMap { Int($0.dropFirst("checkpoint-".count)) }.max())
    let resumed = try CLI.run(
      common + [
        "--steps", "\(last + 1)", "--resume", checkpoints.appendingPathComponent("checkpoint-\(last)").path,
        "--out", dir.appendingPathComponent("resumed").path,
      ])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    let straight = try CLI.run(
      common + ["--steps", "\(last + 1)", "--out", dir.appendingPathComponent("straight").path])
    #expect(straight.status == 0, "\(straight.stderr)")
    let a = try Data(contentsOf: dir.appendingPathComponent("resumed/adapter_model.safetensors"))
    let b = try Data(contentsOf: dir.appendingPathComponent("straight/adapter_model.safetensors"))
    #expect(a == b, "resuming after the kill differs from the uninterrupted run")
  }
}
