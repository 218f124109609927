import ArgumentParser
import Formats
import Foundation
import Memory
import Model
import RunReports
import Training

/// --out and --report, and running a method into them: shared by every `train` method.
struct TrainingOutputOptions: ParsableArguments {
  @Option(help: "Output directory for the result (a PEFT adapter directory).")
  var out: String

  @Option(help: "Write a JSON report of the run here.")
  var report: String?

  @Option(
    help: ArgumentHelp(
      "Write the run's report as a self-contained HTML page here.",
      discussion: "Loss and held-out loss, learning rate, memory against the budget and tokens/s over the steps, "
        + "and the plan. `edgetune report RUN.json` makes the same page from a --report file."))
  var reportHtml: String?

  /// Checks --out, trains, writes the report and its page atomically and prints the summary. A run whose peak
  /// resident set crossed --budget still writes its result, report and page, then exits non-zero.
  func train(_ options: TrainingOptions, _ method: FineTuneMethod) throws {
    guard (options.steps == nil) != (options.epochs == nil) else {
      throw ValidationError("give exactly one of --steps and --epochs")
    }
    // The run checks --out itself (FineTuneConfiguration.checkOutput); the report files are the CLI's.
    for path in [report, reportHtml].compactMap({ $0 }) { try OutputPath.requireCreatable(path, as: .file) }
    let configuration = try options.configuration(method: method, output: out)
    let run = try RunPresenter.open(configuration, threads: options.threads)
    let result = try RunPresenter.train(run)
    if let report { try RunPresenter.write(result, to: report) }
    if let reportHtml { try AtomicFileWriter.write(Array(RunReportPage.html(result).utf8), to: reportHtml) }
    Output.result(RunPresenter.summary(result))
    if result.run.budgetCrossed, let budget = configuration.budget {
      throw BudgetError.crossed(peak: result.run.peakRSSBytes, budget: budget)
    }
  }
}
