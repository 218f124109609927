import Foundation
import Testing
import Training

/// The run as the library's users see it, in child processes: the example program that fine-tunes from Swift code,
/// and the typed report of `train`, including a run whose peak crossed its budget.
@Suite struct RunLibraryTests {
  static let tinyModel = CLI.fixtures.appendingPathComponent("tiny/qwen2-hf").path

  static func data() throws -> String {
    let directory = try CLI.temporaryDirectory()
    let path = directory.appendingPathComponent("count.jsonl").path
    let lines = (0..<40).map { "{\"prompt\": \"Count \($0)\", \"completion\": \" \($0 + 1) \($0 + 2)\"}" }
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  /// Examples/FineTuneFromCode, built with the tests, fine-tunes the tiny model and writes a PEFT adapter.
  @Test func theExampleProgramFineTunesFromCode() throws {
    let binary = URL(fileURLWithPath: CLI.binary).deletingLastPathComponent()
      .appendingPathComponent("finetune-from-code").path
    try #require(FileManager.default.isExecutableFile(atPath: binary), "\(binary) was not built")
    let out = try CLI.temporaryDirectory().appendingPathComponent("adapter")
    let result = try CLI.run(executable: binary, [Self.tinyModel, try Self.data(), out.path, "6"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("step 6/6 loss"), "\(result.stdout)")
    #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("adapter_config.json").path))
  }

  /// Memory the plan and the watchdog never see (the hidden test hook touches it after the last step and frees it):
  /// the run finishes and saves, but the final VmHWM check reports the crossing and the exit status is 1, after
  /// writing the report and its page. The same run without the hook stays within the budget and says so.
  @Test(.enabled(if: CLI.haveModel)) func aRunThatCrossedItsBudgetSaysSoAndFails() throws {
    let directory = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    func train(_ extra: [String]) throws -> (CLIResult, FineTuneReport?) {
      let report = directory.appendingPathComponent("report-\(extra.count).json").path
      let result = try CLI.run(
        [
          "train", "lora", "--model", CLI.modelPath, "--data", BudgetTests.data, "--val-fraction", "0",
          "--seq-len", "64", "--steps", "2", "--budget", "256MiB", "--out",
          directory.appendingPathComponent("adapter").path, "--report", report, "--report-html", report + ".html",
        ] + extra)
      let data = FileManager.default.contents(atPath: report)
      return (result, try data.map { try JSONDecoder().decode(FineTuneReport.self, from: $0) })
    }
    let (held, heldReport) = try train([])
    #expect(held.status == 0, "\(held.stderr)")
    let within = try #require(heldReport)
    #expect(!within.run.budgetCrossed && within.run.peakRSSBytes <= 256 << 20)
    let (crossed, crossedReport) = try train(["--untracked-allocation", "200MiB"])
    #expect(crossed.exited && crossed.status == 1, "\(crossed.stderr)")
    #expect(crossed.stderr.contains("crossed its budget of 256.0 MiB"), "\(crossed.stderr)")
    let report = try #require(crossedReport, "the report is written before the failure")
    #expect(report.run.budgetCrossed && report.run.peakRSSBytes > 256 << 20)
    // The run's page too, with the crossing as its verdict and flag.
    let page = try String(contentsOfFile: directory.appendingPathComponent("report-2.json.html").path, encoding: .utf8)
    #expect(page.contains("<p class=\"verdict over\">") && page.contains("<li>budget crossed</li>"))
    #expect(
      FileManager.default.fileExists(atPath: directory.appendingPathComponent("adapter/adapter_config.json").path))
  }
}
