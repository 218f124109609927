import ArgumentParser
import Formats
import Foundation
import RunReports
import Training

/// `edgetune report RUN.json -o run.html`: the page `--report-html` writes, for any report `--report` wrote.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Render a run's JSON report (from --report) as a self-contained HTML page.",
    discussion: """
      The page shows the run's verdict and figures, charts over its steps (training and held-out loss, learning \
      rate, resident memory against the budget and the plan's peak, tokens/s, the objective's own figures), the \
      memory plan and the run's settings. It loads nothing and runs no script, so it opens offline in any browser. \
      It is the page `train <method> --report-html` writes at the end of a run.
      """)

  @Argument(help: "A run's report: the JSON file `train <method> --report` wrote.")
  var report: String

  @Option(name: .shortAndLong, help: "The page to write (default: the report's path with .html).")
  var output: String?

  func run() throws {
    let decoded = try Self.read(report)
    let path = output ?? (report.hasSuffix(".json") ? String(report.dropLast(5)) : report) + ".html"
    try AtomicFileWriter.write(Array(RunReportPage.html(decoded).utf8), to: path)
    Output.result("run page written to \(path)")
  }

  /// The report at `path`, or an error that says what is wrong with the file.
  static func read(_ path: String) throws -> FineTuneReport {
    let data = try InputFile.read(path, what: "the report")
    do {
      return try JSONDecoder().decode(FineTuneReport.self, from: data)
    } catch let error as DecodingError {
      throw InputError("\(path) is not a run report (written by `train <method> --report`): \(error.keyedDescription)")
    }
  }
}
