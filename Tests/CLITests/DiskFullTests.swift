import Foundation
import Testing

/// A disk that fills during a run: a 512 KiB tmpfs (mounted by the test, which needs root; CI runs as root) holds the
/// output and its checkpoints, one per step, until a checkpoint no longer fits. The run must stop with a message that
/// names the cause and a non-zero exit (no trap), leave no half-written checkpoint, and its last complete checkpoint
/// must resume to the same adapter as an uninterrupted run.
@Suite struct DiskFullTests {
  static var isRoot: Bool { getuid() == 0 }

  @Test(.enabled(if: CLI.required || isRoot)) func aFullDiskStopsTheRunAndKeepsTheLastCheckpoint() throws {
    try #require(Self.isRoot, "mounting the small tmpfs needs root (CI runs as root)")
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let disk = dir.appendingPathComponent("disk")
    try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
    let mounted = try CLI.run(
      executable: "/usr/bin/env", ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", disk.path])
    try #require(mounted.status == 0, "mount: \(mounted.stderr)")
    defer { _ = try? CLI.run(executable: "/usr/bin/env", ["umount", disk.path]) }

    let run = KilledRun(
      command: [
        "train", "lora", "--model", RLHFTests.tiny, "--data", InterruptedTrainingTests.dates, "--val-fraction", "0",
        "--seq-len", "48", "--schedule", "constant",
      ], directory: dir)
    let out = disk.appendingPathComponent("adapter").path
    let full = try CLI.run(run.command + ["--steps", "1000000", "--save-every", "1", "--out", out])
    #expect(full.exited && full.status != 0, "exit \(full.status): \(full.stderr.suffix(500))")
    #expect(full.stderr.contains("No space left on device"), "\(full.stderr.suffix(500))")
    let checkpoints = URL(fileURLWithPath: out + ".checkpoints")
    let names = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path)
    #expect(!names.contains { $0.contains(".partial") }, "half-written checkpoints left: \(names)")
    let last = try run.resumeMatchesUninterrupted(checkpoints: checkpoints)
    print("DiskFullTests: the 512 KiB disk filled after checkpoint-\(last)")
  }
}
