import Foundation
import Testing
import Training

/// The paging optimizer on the real model: LoRA r=64 on all seven projections (AdamW state ~150 MiB, many times the
/// resident pages) trained with the state in RAM, paged to disk with and without LZ4, and on a NUMA node gives
/// bit-identical adapters; under a budget RAM cannot meet, `auto` pages the state and the kernel's peak stays inside;
/// spill faults stop the run with a clear error and leave the last checkpoint whole.
@Suite(.serialized) struct OptimizerStateTests {
  static let data = BudgetTests.data
  static let big = ["--rank", "64", "--targets", "q,k,v,o,gate,up,down", "--seq-len", "128", "--val-fraction", "0"]

  static func train(_ nf4: String, _ dir: URL, _ name: String, steps: Int, _ extra: [String]) throws -> (
    result: CLIResult, adapter: String, report: String
  ) {
    let out = dir.appendingPathComponent(name).path
    let report = dir.appendingPathComponent(name + ".json").path
    let result = try CLI.run(
      ["train", "lora", "--model", nf4, "--data", data, "--steps", "\(steps)", "--out", out, "--report", report]
        + big + extra)
    return (result, out + "/adapter_model.safetensors", report)
  }

  @Test(.enabled(if: CLI.haveModel)) func everyPlacementGivesTheSameAdapterAndAutoPagesWithinTheBudget() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let spill = dir.appendingPathComponent("spill").path
    let runs: [(String, [String])] = [
      ("ram", ["--optimizer-state", "ram"]),
      ("lz4", ["--optimizer-state", "disk:\(spill)", "--optimizer-resident", "8MiB"]),
      ("none", ["--optimizer-state", "disk:\(spill)", "--spill-compress", "none", "--optimizer-resident", "4MiB"]),
      ("numa", ["--optimizer-state", "numa"]),
      ("auto", ["--budget", "340MiB"]),
    ]
    var adapters: [String: Data] = [:]
    var reports: [String: FineTuneReport] = [:]
    for (name, options) in runs {
      let run = try Self.train(nf4, dir, name, steps: 3, options)
      #expect(run.result.status == 0, "\(name): \(run.result.stderr)")
      adapters[name] = try Data(contentsOf: URL(fileURLWithPath: run.adapter))
      reports[name] = try BudgetTests.report(at: run.report)
    }
    for name in ["lz4", "none", "numa", "auto"] {
      #expect(adapters[name] == adapters["ram"], "\(name) adapter differs from the RAM run's")
    }
    for name in ["lz4", "none", "auto"] {
      let paging = try #require(reports[name]?.run.paging, "\(name) has no paging report")
      #expect(paging.pagesOut > 3 * 200, "\(name): the state was not paged out each step (\(paging.pagesOut) pages)")
      #expect(paging.ioWaitShare < 0.5)
    }
    #expect(reports["lz4"]?.run.paging?.compressionRatio ?? 0 > 1)
    #expect(reports["none"]?.run.paging?.compressionRatio == 1)
    // auto under 340 MiB: RAM state (~450 MiB peak) cannot fit, so the plan pages it and the kernel's peak holds.
    let auto = try #require(reports["auto"])
    let choices = auto.plan.planChoices
    #expect(choices.contains { $0.contains("optimizer state paged") }, "\(choices)")
    let peak = auto.run.peakRSSBytes
    let ramPeak = try #require(reports["ram"]?.run.peakRSSBytes)
    print("OptimizerStateTests: VmHWM RAM \(ramPeak >> 20) MiB, auto-paged \(peak >> 20) MiB (budget 340 MiB)")
    #expect(peak <= 340 << 20 && ramPeak > 340 << 20)
    let resident = auto.run.ledgerPeakBytesByLabel["optimizer-pages"]
    #expect(resident == 16 << 20, "resident optimizer pages \(resident ?? -1), planned 16 MiB")
  }

  /// A checkpoint taken while most of the state is paged out holds all of it: resuming from it gives the
  /// uninterrupted run's adapter, bit for bit.
  @Test(.enabled(if: CLI.haveModel)) func resumingFromAPagedCheckpointEqualsAnUninterruptedRun() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let paged = ["--optimizer-state", "disk:\(dir.path)/spill", "--optimizer-resident", "4MiB"]
    let whole = try Self.train(nf4, dir, "whole", steps: 4, paged + ["--save-every", "2"])
    #expect(whole.result.status == 0, "\(whole.result.stderr)")
    let checkpoint = dir.appendingPathComponent("whole.checkpoints/checkpoint-2").path
    let resumed = try Self.train(nf4, dir, "resumed", steps: 4, paged + ["--resume", checkpoint])
    #expect(resumed.result.status == 0, "\(resumed.result.stderr)")
    let a = try Data(contentsOf: URL(fileURLWithPath: whole.adapter))
    let b = try Data(contentsOf: URL(fileURLWithPath: resumed.adapter))
    #expect(a == b, "the resumed adapter differs from the uninterrupted one")
  }

  @Test(.enabled(if: CLI.haveModel)) func anUnusableSpillDirectoryFailsBeforeTraining() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let run = try Self.train(nf4, dir, "x", steps: 2, ["--optimizer-state", "disk:/proc/self"])
    #expect(run.result.exited && run.result.status == 1)
    #expect(run.result.stderr.contains("cannot create a spill file in /proc/self"), "\(run.result.stderr)")
    #expect(!run.result.stderr.contains("train:"), "training started")
    let bad = try CLI.run([
      "train", "lora", "--model", nf4, "--data", Self.data, "--out", "x", "--optimizer-state", "tape",
    ])
    #expect(bad.status != 0 && bad.stderr.contains("auto[:DIR], ram, disk[:DIR], numa[:NODE]"), "\(bad.stderr)")
  }

  /// The spill file is overwritten while the run trains (after its first checkpoint): the run must stop with the
  /// checksum error, not train on, and every checkpoint it left must load (resume runs from it).
  @Test(.enabled(if: CLI.haveModel)) func aDamagedSpillStopsTheRunAndKeepsTheLastCheckpoint() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let spill = dir.appendingPathComponent("spill").path
    let box = LockedResult()
    let runner = Thread {
      box.set(
        try? Self.train(
          nf4, dir, "damaged", steps: 40,
          ["--optimizer-state", "disk:\(spill)", "--spill-compress", "none", "--save-every", "1"]))
    }
    runner.start()
    let firstCheckpoint = dir.appendingPathComponent("damaged.checkpoints/checkpoint-1").path
    let deadline = Date().addingTimeInterval(180)
    while !FileManager.default.fileExists(atPath: firstCheckpoint) && !box.isSet && Date() < deadline {
      usleep(20_000)
    }
    for name in (try? FileManager.default.contentsOfDirectory(atPath: spill)) ?? [] {
      let handle = try #require(FileHandle(forUpdatingAtPath: spill + "/" + name))
      let size = try handle.seekToEnd()
      try handle.seek(toOffset: 0)
      try handle.write(contentsOf: Data(repeating: 0xA5, count: Int(size)))
      try handle.close()
    }
    while !box.isSet { usleep(20_000) }
    let run = try #require(box.value)
    #expect(run.result.exited && run.result.status == 1, "\(run.result.stderr)")
    #expect(run.result.stderr.contains("fails its checksum"), "\(run.result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: run.adapter), "a final adapter was written")
    let checkpoints = try FileManager.default.contentsOfDirectory(
      atPath: dir.appendingPathComponent("damaged.checkpoints").path)
    let last = try #require(
      checkpoints.filter { $0.hasPrefix("checkpoint-") }.max { Int($0.dropFirst(11))! < Int($1.dropFirst(11))! })
    #expect(!checkpoints.contains { $0.contains(".partial") }, "a half-written checkpoint was left: \(checkpoints)")
    let resumed = try Self.train(
      nf4, dir, "resumed", steps: Int(last.dropFirst(11))! + 1,
      [
        "--optimizer-state", "disk:\(spill)", "--resume",
        dir.appendingPathComponent("damaged.checkpoints/\(last)").path,
      ])
    #expect(resumed.result.status == 0, "\(resumed.result.stderr)")
    #expect(resumed.result.stderr.contains("resumed from"))
  }
}

/// The outcome of a run on another thread.
final class LockedResult: @unchecked Sendable {
  // @unchecked Sendable: every access goes through the lock.
  private let lock = NSLock()
  private var stored: (result: CLIResult, adapter: String, report: String)??
  func set(_ value: (result: CLIResult, adapter: String, report: String)?) {
    lock.lock()
    stored = .some(value)
    lock.unlock()
  }
  var isSet: Bool {
    lock.lock()
    defer { lock.unlock() }
    return stored != nil
  }
  var value: (result: CLIResult, adapter: String, report: String)? {
    lock.lock()
    defer { lock.unlock() }
    return stored ?? nil
  }
}
