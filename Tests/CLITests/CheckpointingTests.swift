import Foundation
import Testing
import Training

/// Gradient checkpointing on and off on the real model: the same adapter bit for bit (the recompute is exact), the
/// run without it inside its plan, and `auto` choosing by the budget.
@Suite(.serialized) struct CheckpointingTests {
  static let common = ["--seq-len", "128", "--val-fraction", "0", "--steps", "2", "--targets", "q,k,v,o,gate,up,down"]

  @Test(.enabled(if: CLI.haveModel)) func offGivesTheSameAdapterAndAutoChoosesByTheBudget() throws {
    let nf4 = try ConvertTests.converted.get().nf4
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let runs: [(String, [String])] = [
      ("on", ["--gradient-checkpointing", "on"]),
      ("off", ["--gradient-checkpointing", "off"]),
      ("auto-roomy", ["--budget", "400MiB"]),
      ("auto-tight", ["--budget", "200MiB"]),
    ]
    var adapters: [String: Data] = [:]
    var reports: [String: FineTuneReport] = [:]
    for (name, options) in runs {
      let out = dir.appendingPathComponent(name).path
      let report = out + ".json"
      let result = try CLI.run(
        ["train", "lora", "--model", nf4, "--data", BudgetTests.data, "--out", out, "--report", report]
          + Self.common + options)
      #expect(result.status == 0, "\(name): \(result.stderr)")
      adapters[name] = try Data(contentsOf: URL(fileURLWithPath: out + "/adapter_model.safetensors"))
      reports[name] = try BudgetTests.report(at: report)
    }
    for name in ["off", "auto-roomy", "auto-tight"] {
      #expect(adapters[name] == adapters["on"], "\(name): the adapter differs from the checkpointed run's")
    }
    func checkpointing(_ name: String) -> Bool? { reports[name]?.plan.gradientCheckpointing }
    #expect(checkpointing("on") == true && checkpointing("off") == false)
    #expect(checkpointing("auto-roomy") == false, "400 MiB holds every layer's activations at seq 128")
    #expect(checkpointing("auto-tight") == true, "200 MiB does not")
    let off = try #require(reports["off"])
    let peak = off.run.peakRSSBytes
    let planned = off.plan.plannedPeakBytes
    let onPeak = try #require(reports["on"]?.run.peakRSSBytes)
    print("CheckpointingTests: VmHWM on \(onPeak >> 20) MiB, off \(peak >> 20) MiB (planned \(planned >> 20) MiB)")
    #expect(peak <= planned, "the run without checkpointing exceeded its plan")
    #expect(Double(peak) >= 0.85 * Double(planned), "the plan without checkpointing is over 15% high")
    let roomyPeak = try #require(reports["auto-roomy"]?.run.peakRSSBytes)
    let tightPeak = try #require(reports["auto-tight"]?.run.peakRSSBytes)
    #expect(roomyPeak <= 400 << 20 && tightPeak <= 200 << 20)
  }

  @Test func anUnknownModeIsRefused() throws {
    let result = try CLI.run(
      ["train", "lora", "--model", "x.nf4", "--data", "d.jsonl", "--out", "o", "--gradient-checkpointing", "maybe"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("--gradient-checkpointing must be auto, on or off"), "\(result.stderr)")
  }
}
