import ArgumentParser
import Formats
import Foundation
import Memory
import Profiling
import RunReports
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
    // The adapter goes inside --out, so it must exist before the run checks its output; a run refused before it
    // starts (a plan that cannot fit, a bad option) removes the directory again if it made it.
    let started = ContinuousClock.now
    var configuration = try options.training.configuration(
      method: try options.fineTuneMethod(), output: (out as NSString).appendingPathComponent("adapter"))
    configuration.defaultSteps = 4
    configuration.watchdogInterval = .milliseconds(interval)
    configuration.keepSamples = true
    let madeOut = !FileManager.default.fileExists(atPath: out)
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let run: FineTuneRun
    do {
      run = try RunPresenter.open(configuration, threads: options.threads)
    } catch {
      if madeOut { try? FileManager.default.removeItem(atPath: out) }
      throw error
    }
    // A run stopped by the budget still gets its profile written: that is when it is most needed.
    var report: FineTuneReport?
    var failure: (any Error)?
    do {
      report = try RunPresenter.train(run)
    } catch {
      failure = error
    }
    run.setup.watchdog.end()
    let samples = run.setup.watchdog.samples
    let measured = samples.map(\.hwm).max() ?? 0
    let plan = run.setup.planned.plan
    let planReport = report?.plan ?? run.setup.report()
    let document = ProfileDocument(
      title: "EdgeTune memory profile: \(options.method) on \((options.model.model as NSString).lastPathComponent)",
      command: CommandLine.arguments.joined(separator: " "), budget: options.budget.bytes,
      plan: plan.lines.map { .init(label: $0.label, bytes: $0.bytes, note: $0.note, kind: $0.kind.rawValue) },
      plannedPeak: plan.total, measuredPeak: measured, samples: samples, phases: Self.phasePeaks(samples),
      verdict: failure.map { "the run failed: \($0)" }
        ?? verdict(plan: plan, measured: measured, method: run.definition.summary),
      figures: figures(report?.run, plan: planReport, seconds: (ContinuousClock.now - started).seconds))
    try RunPresenter.write(
      ProfileJSON(
        report: report, plan: planReport, samples: samples.count, verdict: document.verdict,
        phases: document.phases.map(ProfileJSON.Phase.init), measuredPeakBytes: measured,
        planError: Self.planError(planned: plan.total, measured: measured)),
      to: (out as NSString).appendingPathComponent("profile.json"))
    try write(Data(ProfileHTML.render(document).utf8), "profile.html")
    if csv { try write(Data(ProfileCSV.render(samples).utf8), "profile.csv") }
    if let failure {
      Output.diagnostic("profile written to \(out)/profile.html")
      throw failure
    }
    if let report { Output.diagnostic(RunPresenter.summary(report)) }
    Output.result(document.verdict)
    Output.result(
      "profile written to \(out)/profile.html" + (csv ? " and profile.csv" : "") + " (report: profile.json)")
  }

  /// (measured − planned) / measured: how far the kernel's peak was from the plan, as the tests bound it.
  static func planError(planned: Int, measured: Int) -> Double {
    Double(measured - planned) / Double(max(1, measured))
  }

  func write(_ data: Data, _ name: String) throws {
    try AtomicFileWriter.write(Array(data), to: (out as NSString).appendingPathComponent(name))
  }

  /// "fits in 96.0 MiB with seq 256 ...; the largest consumer is checkpoints (17.4 MiB)".
  func verdict(plan: MemoryPlan, measured: Int, method: String) -> String {
    let consumers = plan.lines.filter { $0.kind == .ledger || $0.kind == .weights }
    let largest = consumers.max { $0.bytes < $1.bytes }.map { "\($0.label) (\(ByteCount.format($0.bytes)))" } ?? "-"
    let error = Self.planError(planned: plan.total, measured: measured) * 100
    let measuredText =
      "measured peak \(ByteCount.format(measured)), planned \(ByteCount.format(plan.total)) "
      + String(format: "(%+.1f%%)", error)
    let setting = "seq \(options.seqLen), \(method)"
    if let budget = options.budget.bytes {
      let fits = measured <= budget
      return (fits ? "fits in \(ByteCount.format(budget))" : "does NOT fit in \(ByteCount.format(budget))")
        + " with \(setting): \(measuredText); the largest consumer is \(largest)"
        + (plan.choices.count > 1 ? "; " + plan.choices.dropFirst().joined(separator: "; ") : "")
    }
    return "needs about \(ByteCount.format(measured)) with \(setting): \(measuredText); the largest consumer is "
      + largest + "; the smallest budget the plan allows is \(ByteCount.format(plan.smallestBudget))"
  }

  func figures(_ run: RunFigures?, plan: PlanReport, seconds: Double) -> [ProfileDocument.PlanLine] {
    var lines: [ProfileDocument.PlanLine] = [
      .init(label: "steps", bytes: 0, note: "\(run?.steps ?? 0) optimizer steps"),
      .init(label: "tokens/s", bytes: 0, note: String(format: "%.1f", run?.tokensPerSecond ?? 0)),
      .init(label: "wall time", bytes: 0, note: String(format: "%.1f s", seconds)),
      .init(label: "weights streamed", bytes: 0, note: "\(plan.weightsStreamed)"),
      .init(
        label: "kernel above plan (max)", bytes: plan.kernelAbovePlanMaxBytes,
        note: "margin \(ByteCount.format(plan.kernelAbovePlanMarginBytes))"),
    ]
    if let run {
      lines.append(.init(label: "optimizer state", bytes: run.optimizerStateBytes, note: run.optimizerState))
    }
    lines += run?.paging.map(RunReportFigures.paging) ?? []
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

/// profile.json: the run's report (or, when it failed, the plan's part of it) with the profile's own figures.
struct ProfileJSON: Codable {
  var report: FineTuneReport?
  var plan: PlanReport
  var samples: Int
  var verdict: String
  var phases: [Phase]
  var measuredPeakBytes: Int
  var planError: Double

  /// A phase's time and peaks.
  struct Phase: Codable {
    var phase: String
    var seconds: Double
    var peakRSSBytes: Int
    var peakAnonBytes: Int
    var peakFileBytes: Int
    var peakLedgerBytes: Int

    init(_ p: ProfileDocument.PhasePeak) {
      (phase, seconds, peakRSSBytes, peakAnonBytes) = (p.phase, p.seconds, p.peakRSS, p.peakAnon)
      (peakFileBytes, peakLedgerBytes) = (p.peakFile, p.peakLedger)
    }

    enum CodingKeys: String, CodingKey {
      case phase, seconds
      case peakRSSBytes = "peak_rss_bytes"
      case peakAnonBytes = "peak_anon_bytes"
      case peakFileBytes = "peak_file_bytes"
      case peakLedgerBytes = "peak_ledger_bytes"
    }
  }

  enum CodingKeys: String, CodingKey {
    case samples, verdict, phases
    case measuredPeakBytes = "measured_peak_bytes"
    case planError = "plan_error"
  }

  func encode(to encoder: any Encoder) throws {
    if let report { try report.encode(to: encoder) } else { try plan.encode(to: encoder) }
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(samples, forKey: .samples)
    try c.encode(verdict, forKey: .verdict)
    try c.encode(phases, forKey: .phases)
    try c.encode(measuredPeakBytes, forKey: .measuredPeakBytes)
    try c.encode(planError, forKey: .planError)
  }
}

extension ProfileJSON {
  /// The report when the run finished (its figures are all there), else the plan alone.
  init(from decoder: any Decoder) throws {
    report = try? FineTuneReport(from: decoder)
    plan = try report?.plan ?? PlanReport(from: decoder)
    let c = try decoder.container(keyedBy: CodingKeys.self)
    samples = try c.decode(Int.self, forKey: .samples)
    verdict = try c.decode(String.self, forKey: .verdict)
    phases = try c.decode([Phase].self, forKey: .phases)
    measuredPeakBytes = try c.decode(Int.self, forKey: .measuredPeakBytes)
    planError = try c.decode(Double.self, forKey: .planError)
  }
}
