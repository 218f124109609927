import Memory
public import Profiling
public import Training

/// The run page's charts: losses, learning rate, memory, tokens/s, then the objective's own figures per step.
extension RunReportPage {
  typealias Point = RunReportDocument.Point

  static func charts(_ report: FineTuneReport) -> [RunReportDocument.Chart] {
    let run = report.run
    let steps = steps(run)
    func curve(_ values: [Double]) -> [Point] { zip(steps, values).map { Point(x: $0, y: $1) } }
    var charts = [
      lossChart(run, training: curve(run.lossCurve)),
      .init(
        id: "learning-rate", title: "Learning rate",
        caption: "The learning rate of each step (warm-up, then the schedule).",
        valueTitle: "learning rate", series: [.init(name: "learning rate", points: curve(run.learningRateCurve))],
        empty: "No steps recorded."),
      .init(
        id: "memory", title: "Memory over the run",
        caption: "The kernel's resident set (RSS) at the end of each step, against the budget and the plan's peak. "
          + "The run's peak (VmHWM) was \(ByteCount.format(run.peakRSSBytes)).",
        valueTitle: "bytes", unit: .bytes,
        series: [.init(name: "RSS", points: curve(run.rssCurve.map(Double.init)))],
        references: (report.plan.budgetBytes.map { [.init(.budget, value: Double($0))] } ?? [])
          + [.init(.plannedPeak, value: Double(report.plan.plannedPeakBytes))],
        empty: "No steps recorded."),
      .init(
        id: "tokens-per-second", title: "Tokens per second",
        caption: "Tokens trained on per second of each step, and the run's mean.", valueTitle: "tokens/s",
        series: [.init(name: "tokens/s", points: curve(run.tokensPerSecondCurve ?? []))],
        references: [.init(.mean, value: run.tokensPerSecond)],
        empty: run.tokensPerSecondCurve == nil
          ? String(
            format: "This report has no per-step figures (written before EdgeTune recorded them); the run's mean was "
              + "%.1f tokens/s.", run.tokensPerSecond)
          : "No steps recorded."),
    ]
    for (name, values) in (run.metricCurves ?? [:]).sorted(by: { $0.key < $1.key }) {
      charts.append(
        .init(
          id: "metric-\(name)", title: "\(name) (the objective's own figure)", caption: "\(name) of each step.",
          valueTitle: name, series: [.init(name: name, points: curve(values))], empty: "No steps recorded."))
    }
    return charts
  }

  /// Training loss at each step; held-out loss before training (step 0) and at each evaluation, or after the run
  /// when it evaluated only then.
  static func lossChart(_ run: RunFigures, training: [Point]) -> RunReportDocument.Chart {
    var heldOut = run.evalCurve.map { Point(x: Double($0.step), y: $0.loss) }
    if heldOut.isEmpty, let last = run.evalLoss { heldOut.append(Point(x: training.last?.x ?? 0, y: last)) }
    if let before = run.evalLossBefore { heldOut.insert(Point(x: 0, y: before), at: 0) }
    var series = [RunReportDocument.Series(name: "training loss", points: training)]
    if !heldOut.isEmpty { series.append(.init(name: "held-out loss", points: heldOut, markers: true)) }
    return .init(
      id: "loss", title: "Loss",
      caption: heldOut.isEmpty
        ? "Training loss at each step. The run had no held-out data."
        : "Training loss at each step; held-out loss (dots) before training and at each evaluation.",
      valueTitle: "loss", series: series, empty: "No steps recorded.")
  }
}
