import Formats
import Foundation
import Memory
import Model
import Training

/// What the CLI adds to a library run: the model opened with a line on stderr, notes as diagnostics, a progress bar,
/// the report encoded as JSON, and a closing summary.
enum RunPresenter {
  /// Loads the model and plans the run (failing with the plan table when the budget cannot be met).
  static func open(_ configuration: FineTuneConfiguration, threads: ThreadOptions) throws -> FineTuneRun {
    threads.apply()
    RunPhase.enter(.load)
    let model = try ModelLoader.load(path: configuration.model)
    return try FineTuneRun(configuration: configuration, model: model, note: Output.diagnostic)
  }

  /// Runs with a progress bar on stderr.
  static func train(_ run: FineTuneRun) throws -> FineTuneReport {
    var bar: ProgressBar?
    defer { bar?.finish() }
    return try run.run { event in
      switch event {
      case .note(let text): Output.diagnostic(text)
      case .step(let r, let total, let tokensPerSecond):
        if bar == nil { bar = ProgressBar("train", total: total) }
        bar?.update(
          r.step,
          detail: String(
            format: "step %d loss %.4f lr %.2e %.0f tok/s", r.step, r.loss, r.learningRate, tokensPerSecond)
            + (r.metrics["accuracy"].map { String(format: " acc %.2f", $0) } ?? "")
            + (r.metrics["score"].map { String(format: " score %.2f", $0) } ?? "")
            + (r.metrics["kl"].map { String(format: " kl %.2f", $0) } ?? "")
            + (r.evalLoss.map { String(format: " eval %.4f", $0) } ?? ""))
      }
      return .more
    }
  }

  /// Writes `report` as pretty, key-sorted JSON, atomically.
  static func write(_ report: some Encodable, to path: String) throws {
    try AtomicFileWriter.write(Array(try Output.encoded(report)), to: path)
  }

  /// "adapter saved to OUT: 100 steps, loss 2.1 → 0.4, held-out 2.0 → 0.5, 110 tokens/s, peak RSS …".
  static func summary(_ report: FineTuneReport) -> String {
    let r = report.run
    var before = r.evalBefore ?? [:]
    var after = r.eval ?? [:]
    if let loss = r.evalLossBefore { before["loss"] = loss }
    if let loss = r.evalLoss { after["loss"] = loss }
    // Held-out figures before → after: the loss, and the objective's own (accuracy, margin, score, KL).
    var heldOut: [String] = []
    for key in ["loss", "accuracy", "margin", "score", "kl"] where before[key] != nil || after[key] != nil {
      heldOut.append(
        "\(key == "loss" ? "" : key + " ")" + (before[key].map { String(format: "%.4f", $0) } ?? "-") + " → "
          + (after[key].map { String(format: "%.4f", $0) } ?? "-"))
    }
    return "adapter saved to \(r.adapter): \(r.steps) steps, "
      + String(format: "loss %.4f → %.4f, ", r.lossFirst, r.lossLast)
      + "held-out " + (heldOut.isEmpty ? "-" : heldOut.joined(separator: ", ")) + ", "
      + String(format: "%.0f tokens/s, ", r.tokensPerSecond)
      + "peak RSS \(ByteCount.format(r.peakRSSBytes)), peak anonymous \(ByteCount.format(r.peakAnonBytes))"
      + (report.plan.budgetBytes.map { " (budget \(ByteCount.format($0)))" } ?? "")
      + (r.stoppedEarly ? " (stopped early)" : "")
  }
}
