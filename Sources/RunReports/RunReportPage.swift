import Foundation
import Memory
public import Profiling
public import Training

/// A run's report as its HTML page: what of the report (Training's `FineTuneReport`) the page shows, as Profiling's
/// plain `RunReportDocument`. A module of its own so that Training and Profiling stay independent of each other and a
/// Swift program can render a report as `edgetune report` and `--report-html` do.
public enum RunReportPage {
  /// The self-contained HTML page of `report`.
  public static func html(_ report: FineTuneReport) -> String { RunReportHTML.render(document(report)) }

  public static func document(_ report: FineTuneReport) -> RunReportDocument {
    let run = report.run
    return RunReportDocument(
      title: "EdgeTune run: \(run.method) on \((run.model as NSString).lastPathComponent)",
      subtitle: "\(run.model) → \(run.adapter)", verdict: verdict(report), alarming: run.budgetCrossed,
      flags: (run.stoppedEarly ? ["stopped early"] : []) + (run.budgetCrossed ? ["budget crossed"] : []),
      cards: cards(report), charts: charts(report),
      plan: report.plan.plan.map { .init(label: $0.label, bytes: $0.bytes, note: $0.note, kind: $0.kind) },
      plannedPeak: report.plan.plannedPeakBytes, figures: RunReportFigures.figures(report))
  }

  /// The steps the loss curve covers. A resumed run's curves start at the step it resumed from, and only its end is
  /// known (the last step), unless it stopped early, when only its start is (step 1, as if not resumed).
  static func steps(_ run: RunFigures) -> [Double] {
    let first = run.stoppedEarly ? 1 : max(run.steps - run.lossCurve.count, 0) + 1
    return run.lossCurve.indices.map { Double(first + $0) }
  }

  /// "Finished 40 steps …" or "Stopped early …", and where the peak resident set ended against the budget.
  static func verdict(_ report: FineTuneReport) -> String {
    let run = report.run
    let peak = ByteCount.format(run.peakRSSBytes)
    var text =
      run.stoppedEarly
      ? "Stopped early after \(run.lossCurve.count) of \(run.steps) steps; the result holds the steps done. "
      : "Finished \(run.steps) steps. "
    guard let budget = report.plan.budgetBytes else { return text + "Peak resident set \(peak), without a budget." }
    if run.budgetCrossed {
      text += "The peak resident set (\(peak)) crossed the budget of \(ByteCount.format(budget)): "
      return text + "the result was saved, but the run exited with status 1."
    }
    return text + "Peak resident set \(peak), within the budget of \(ByteCount.format(budget))."
  }

  static func cards(_ report: FineTuneReport) -> [RunReportDocument.Card] {
    let run = report.run
    let plan = report.plan
    var heldOut = "no held-out loss"
    if let after = run.evalLoss {
      heldOut =
        "held-out " + (run.evalLossBefore.map { String(format: "%.4f → ", $0) } ?? "") + String(format: "%.4f", after)
    }
    let budgetNote =
      plan.budgetBytes.map { budget in
        let headroom = budget - run.peakRSSBytes
        return headroom >= 0
          ? "\(ByteCount.format(headroom)) below the budget of \(ByteCount.format(budget))"
          : "\(ByteCount.format(-headroom)) above the budget of \(ByteCount.format(budget))"
      } ?? "run without --budget"
    let plannedNote =
      plan.plannedPeakBytes > 0
      ? String(
        format: "measured peak %+.1f %% against it",
        Double(run.peakRSSBytes - plan.plannedPeakBytes) / Double(plan.plannedPeakBytes) * 100)
      : "no plan"
    return [
      .init("method", run.method, note: RunReportFigures.methodSummary(report.method)),
      .init(
        "steps", run.stoppedEarly ? "\(run.lossCurve.count) of \(run.steps)" : "\(run.steps)",
        note: "\(run.tokens) tokens, batch \(run.batch) × \(run.seqLen)"),
      .init("loss", String(format: "%.4f → %.4f", run.lossFirst, run.lossLast), note: heldOut),
      .init(
        "tokens/s", String(format: "%.1f", run.tokensPerSecond),
        note: String(format: "%.1f s training, %.1f s in all", run.trainSeconds, run.wallSeconds)),
      .init("peak RSS (VmHWM)", ByteCount.format(run.peakRSSBytes), note: budgetNote),
      .init("planned peak", ByteCount.format(plan.plannedPeakBytes), note: plannedNote),
      .init(
        "trainable parameters", "\(run.trainableParameters)",
        note: "optimizer state \(ByteCount.format(run.optimizerStateBytes))"),
      .init("ledger peak", ByteCount.format(run.ledgerPeakBytes), note: "the reservations' peak"),
    ]
  }
}
