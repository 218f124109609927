import ArgumentParser
import Formats
import Foundation
import Memory
import Profiling
import Training

/// `edgetune profile`: a short training run under the memory sampler, written as JSON, HTML and CSV.
struct ProfileCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "profile",
    abstract: "Profile a training run's memory: a few steps, sampled, with the plan beside the measurement.",
    discussion: """
      Takes the options of `train <method>` with --method (default lora; 4 steps unless --steps or --epochs says otherwise). Writes to --out:
      profile.json (report, plan, samples), profile.html (self-contained page: memory timeline by ledger label and
      phase, the kernel's RSS/RssAnon/RssFile, peaks per phase, the plan), profile.csv with --csv, and the adapter
      in adapter/. Prints a verdict to decide settings before a long run.
      """)

  @OptionGroup var options: AnyMethodRunOptions

  @Option(help: "Directory for profile.json, profile.html, profile.csv and the adapter.")
  var out: String = "edgetune-profile"

  @Flag(help: "Also write the raw samples as profile.csv.")
  var csv = false

  @Option(help: "Milliseconds between memory samples.")
  var interval: Int = 20

  func validate() throws {
    guard (1...10_000).contains(interval) else { throw ValidationError("--interval must be 1–10000 ms") }
  }

  func run() throws {
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let started = ContinuousClock.now
    let lora = try TrainingRun(
      options: options.training, recipe: try options.recipe(),
      watchdogInterval: .milliseconds(interval), keepSamples: true)
    // A run stopped by the budget still gets its profile written: that is when it is most needed.
    var outcome: TrainingRun.Outcome?
    var failure: (any Error)?
    do {
      outcome = try lora.execute(out: (out as NSString).appendingPathComponent("adapter"), defaultSteps: 4)
    } catch {
      failure = error
    }
    lora.watchdog.end()
    let samples = lora.watchdog.samples
    let measured = samples.map(\.hwm).max() ?? 0
    let plan = lora.planned.plan
    let document = ProfileDocument(
      title: "EdgeTune memory profile: \(options.method) on \((options.model.model as NSString).lastPathComponent)",
      command: CommandLine.arguments.joined(separator: " "), budget: options.budget.bytes,
      plan: plan.lines.map { .init(label: $0.label, bytes: $0.bytes, note: "\($0.kind.rawValue): \($0.note)") },
      plannedPeak: plan.total, measuredPeak: measured, samples: samples, phases: Self.phasePeaks(samples),
      verdict: failure.map { "the run failed: \($0)" } ?? verdict(plan: plan, measured: measured),
      figures: figures(outcome?.report ?? lora.planReport(), seconds: (ContinuousClock.now - started).seconds))
    var report = outcome?.report ?? lora.planReport()
    report["samples"] = samples.count
    report["verdict"] = document.verdict
    report["phases"] = document.phases.map {
      [
        "phase": $0.phase, "seconds": $0.seconds, "peak_rss_bytes": $0.peakRSS, "peak_anon_bytes": $0.peakAnon,
        "peak_file_bytes": $0.peakFile, "peak_ledger_bytes": $0.peakLedger,
      ] as [String: Any]
    }
    report["measured_peak_bytes"] = measured
    report["plan_error"] = Self.planError(planned: plan.total, measured: measured)
    try write(JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys]), "profile.json")
    try write(Data(ProfileHTML.render(document).utf8), "profile.html")
    if csv { try write(Data(ProfileCSV.render(samples).utf8), "profile.csv") }
    if let failure {
      Output.diagnostic("profile written to \(out)/profile.html")
      throw failure
    }
    Output.diagnostic(outcome?.summary ?? "")
    Output.result(document.verdict)
    Output.result(
      "profile written to \(out)/profile.html" + (csv ? " and profile.csv" : "") + " (report: profile.json)")
  }

  /// (measured − planned) / measured: how far the kernel's peak was from the plan, as the tests bound it.
  static func planError(planned: Int, measured: Int) -> Double {
    Double(measured - planned) / Double(max(1, measured))
  }

  func write(_ data: Data, _ name: String) throws {
    let writer = try AtomicFileWriter(path: (out as NSString).appendingPathComponent(name))
    try writer.write(Array(data))
    try writer.finish()
  }

  /// "fits in 96.0 MiB with seq 256 ...; the largest consumer is checkpoints (17.4 MiB)".
  func verdict(plan: MemoryPlan, measured: Int) -> String {
    let consumers = plan.lines.filter { $0.kind == .ledger || $0.kind == .weights }
    let largest = consumers.max { $0.bytes < $1.bytes }.map { "\($0.label) (\(ByteCount.format($0.bytes)))" } ?? "-"
    let error = Self.planError(planned: plan.total, measured: measured) * 100
    let measuredText =
      "measured peak \(ByteCount.format(measured)), planned \(ByteCount.format(plan.total)) "
      + String(format: "(%+.1f%%)", error)
    let setting = "seq \(options.seqLen), \((try? options.recipe().summary) ?? options.method)"
    if let budget = options.budget.bytes {
      let fits = measured <= budget
      return (fits ? "fits in \(ByteCount.format(budget))" : "does NOT fit in \(ByteCount.format(budget))")
        + " with \(setting): \(measuredText); the largest consumer is \(largest)"
        + (plan.choices.count > 1 ? "; " + plan.choices.dropFirst().joined(separator: "; ") : "")
    }
    return "needs about \(ByteCount.format(measured)) with \(setting): \(measuredText); the largest consumer is "
      + largest + "; the smallest budget the plan allows is \(ByteCount.format(plan.smallestBudget))"
  }

  func figures(_ report: [String: Any], seconds: Double) -> [ProfileDocument.PlanLine] {
    func number(_ key: String) -> Double { (report[key] as? Double) ?? Double(report[key] as? Int ?? 0) }
    var lines: [ProfileDocument.PlanLine] = [
      .init(label: "steps", bytes: 0, note: "\(report["steps"] ?? 0) optimizer steps"),
      .init(label: "tokens/s", bytes: 0, note: String(format: "%.1f", number("tokens_per_second"))),
      .init(label: "wall time", bytes: 0, note: String(format: "%.1f s", seconds)),
      .init(label: "weights streamed", bytes: 0, note: "\(report["weights_streamed"] ?? false)"),
      .init(
        label: "kernel above plan (max)", bytes: Int(number("kernel_above_plan_max_bytes")),
        note: "margin \(ByteCount.format(Int(number("kernel_above_plan_margin_bytes"))))"),
    ]
    if let state = report["optimizer_state"] as? String {
      lines.append(
        .init(label: "optimizer state", bytes: Int(number("optimizer_state_bytes")), note: state))
    }
    if let p = report["paging"] as? [String: Any] {
      func value(_ key: String) -> Double { (p[key] as? Double) ?? Double(p[key] as? Int ?? 0) }
      lines += [
        .init(
          label: "optimizer pages in/out", bytes: 0,
          note: "\(p["pages_in"] ?? 0) in, \(p["pages_out"] ?? 0) out"),
        .init(
          label: "spill bytes written", bytes: Int(value("bytes_written")),
          note: String(
            format: "LZ4 ratio %.2f; %@ read", value("compression_ratio"),
            ByteCount.format(Int(value("bytes_read"))))),
        .init(
          label: "waiting on spill I/O", bytes: 0,
          note: String(
            format: "%.2f s of %.2f s of I/O (%.1f%% of training time)", value("io_wait_seconds"),
            value("io_seconds"), 100 * value("io_wait_share"))),
      ]
    }
    return lines
  }

  /// Peaks and time per phase, in order of first appearance.
  static func phasePeaks(_ samples: [MemorySample]) -> [ProfileDocument.PhasePeak] {
    var order: [String] = []
    var peaks: [String: ProfileDocument.PhasePeak] = [:]
    for (i, s) in samples.enumerated() {
      let duration = i + 1 < samples.count ? samples[i + 1].seconds - s.seconds : 0
      if peaks[s.phase] == nil {
        order.append(s.phase)
        peaks[s.phase] = .init(phase: s.phase, seconds: 0, peakRSS: 0, peakAnon: 0, peakFile: 0, peakLedger: 0)
      }
      peaks[s.phase]!.seconds += duration
      peaks[s.phase]!.peakRSS = max(peaks[s.phase]!.peakRSS, s.rss)
      peaks[s.phase]!.peakAnon = max(peaks[s.phase]!.peakAnon, s.rssAnon)
      peaks[s.phase]!.peakFile = max(peaks[s.phase]!.peakFile, s.rssFile)
      peaks[s.phase]!.peakLedger = max(peaks[s.phase]!.peakLedger, s.ledger)
    }
    return order.map { peaks[$0]! }
  }
}
