import Foundation
import Memory
import Testing
import Training

@testable import edgetune

/// The budget under a real memory limit, as on a board: each command runs in a memory cgroup whose limit is its
/// --budget plus a small allowance, on a private copy of SmolLM2's GGUF (94 MiB, larger than every limit here) whose
/// pages were evicted first, so the kernel charges the page cache the command faults in against the limit and must
/// reclaim it there. Each must finish with no OOM kill, its VmHWM within the budget; the cgroup's own peak and the
/// limit are printed. Needs root (CI runs as root); under EDGETUNE_REQUIRE_MODEL=1 a machine that cannot make the
/// cgroup fails the test instead of skipping it.
@Suite(.serialized) struct MemoryLimitTests {
  /// What the cgroup charges beyond the process's resident set: page tables and other kernel objects, the data file's
  /// and the outputs' page cache before writeback.
  static let allowance = 16 << 20

  static let enabled = CLI.haveModel && (CLI.required || MemoryCgroup.available)

  /// A private copy of the model: another test mapping the shared file would keep its pages cached (and charged to
  /// the test process), and eviction cannot drop mapped pages.
  static let model: Result<(directory: URL, path: String), any Error> = Result {
    let directory = try CLI.temporaryDirectory()
    let path = directory.appendingPathComponent("smollm2.gguf").path
    try FileManager.default.copyItem(atPath: CLI.modelPath, toPath: path)
    atexit { if let dir = MemoryLimitTests.directoryToRemove { try? FileManager.default.removeItem(at: dir) } }
    directoryToRemove = directory
    return (directory, path)
  }
  nonisolated(unsafe) static var directoryToRemove: URL?

  /// Runs `arguments` under a limit of `budget` + allowance with the model's pages evicted first; requires a clean
  /// exit and no OOM kill, prints the figures, and returns the result.
  static func runLimited(_ what: String, budget: Int, _ arguments: [String]) throws -> CLIResult {
    let model = try Self.model.get().path
    let group = try MemoryCgroup.create(limitBytes: budget + allowance)
    defer { group.remove() }
    try evictFromPageCache(model)
    let cached = try residentPages(of: model)
    #expect(cached.resident * 20 < cached.total, "eviction left \(cached.resident) of \(cached.total) pages cached")
    let result = try group.run(arguments)
    print(
      "MemoryLimitTests: \(what): limit \((budget + allowance) >> 20) MiB (budget \(budget >> 20) + \(allowance >> 20)), "
        + "cgroup peak \(String(format: "%.1f", Double(group.peakBytes) / 1_048_576)) MiB (anonymous + page cache), "
        + "limit reached \(group.limitHits) times, OOM kills \(group.oomKills), \(group.hierarchy.rawValue)")
    #expect(group.oomKills == 0, "\(what): the OOM killer ended it")
    try #require(result.exited && result.status == 0, "\(what) failed (\(result.status)): \(result.stderr)")
    // The model alone is larger than the limit: unless its pages were reclaimed under the limit, the cgroup was not
    // charging the page cache and this test would prove nothing.
    #expect(group.limitHits > 0, "\(what): the limit was never reached")
    #expect(group.peakBytes <= group.limitBytes)
    return result
  }

  static func expectWithinBudget(_ what: String, peak: Int, budget: Int) {
    print("MemoryLimitTests: \(what): VmHWM \(String(format: "%.1f", Double(peak) / 1_048_576)) MiB of \(budget >> 20)")
    #expect(peak > 0 && peak <= budget, "\(what): VmHWM \(peak) above the budget \(budget)")
  }

  /// LoRA from the GGUF at seq 128 within 80 MiB: less than the model file, so every layer streams.
  @Test(.enabled(if: enabled)) func trainingUnderALimit() throws {
    let budget = 80 << 20
    let out = try Self.model.get().directory.appendingPathComponent("adapter").path
    let report = out + ".json"
    _ = try Self.runLimited(
      "train lora", budget: budget,
      [
        "train", "lora", "--model", try Self.model.get().path, "--data", BudgetTests.data, "--val-fraction", "0",
        "--seq-len", "128", "--steps", "3", "--budget", "\(budget)", "--out", out, "--report", report,
      ])
    let run = try BudgetTests.report(at: report)
    Self.expectWithinBudget("train lora", peak: run.run.peakRSSBytes, budget: budget)
    #expect(!run.run.budgetCrossed && run.plan.weightsStreamed)
  }

  @Test(.enabled(if: enabled)) func generationUnderALimit() throws {
    let budget = 64 << 20
    let result = try Self.runLimited(
      "generate", budget: budget,
      [
        "generate", "--model", try Self.model.get().path, "--chat", "Name a colour.", "--temperature", "0",
        "--max-tokens", "16", "--budget", "\(budget)", "--json",
      ])
    let peak = try result.decoded(CommandReport<Generate.Result>.self).memory.peakRSSBytes
    Self.expectWithinBudget("generate", peak: peak, budget: budget)
  }

  /// GGUF → NF4 within 80 MiB, its perplexity check included (the plan fits it at this budget).
  @Test(.enabled(if: enabled)) func conversionUnderALimit() throws {
    let budget = 80 << 20
    let output = try Self.model.get().directory.appendingPathComponent("model.nf4").path
    let result = try Self.runLimited(
      "convert", budget: budget,
      ["convert", try Self.model.get().path, "-o", output, "--budget", "\(budget)", "--json"])
    let report = try result.decoded(CommandReport<Convert.Result>.self)
    #expect(report.result.check != nil, "the quality check did not run")
    Self.expectWithinBudget("convert", peak: report.memory.peakRSSBytes, budget: budget)
  }
}
