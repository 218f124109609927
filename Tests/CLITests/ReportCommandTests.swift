import Foundation
import Testing
import Training

/// `edgetune report` and `--report-html` on the tiny fixture: a run's page from its report, pages for reports with
/// short or missing curves, and clear errors for files that are no report.
@Suite struct ReportCommandTests {
  /// A 12-step LoRA run with held-out evaluations writes its page; `edgetune report` makes the same page from the
  /// JSON report, beside it by default.
  @Test func aRunsReportBecomesItsPage() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let data = try TrainTests.writeData(dir)
    let report = dir.appendingPathComponent("run.json").path
    let written = dir.appendingPathComponent("written.html").path
    let result = try CLI.run([
      "train", "lora", "--model", TrainTests.model, "--data", data, "--seq-len", "48", "--rank", "4", "--steps", "12",
      "--eval-every", "4", "--out", dir.appendingPathComponent("adapter").path, "--report", report,
      "--report-html", written,
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let rendered = try CLI.run(["report", report])
    #expect(rendered.status == 0, "\(rendered.stderr)")
    let path = dir.appendingPathComponent("run.html").path
    #expect(rendered.stdout.contains("run page written to \(path)"), "\(rendered.stdout)")
    let page = try String(contentsOfFile: path, encoding: .utf8)
    #expect(try String(contentsOfFile: written, encoding: .utf8) == page, "the page is a function of the report")

    #expect(page.contains("<title>EdgeTune run: lora on llama-mixed.tiny-gguf</title>"))
    #expect(page.contains("<p class=\"verdict fits\">Finished 12 steps."))
    #expect(page.components(separatedBy: "<svg class=\"chart\"").count - 1 == 4)
    for section in ["loss", "learning-rate", "memory", "tokens-per-second"] {
      #expect(page.contains("<section id=\"\(section)\" class=\"chart\">"), "\(section)")
    }
    // Held-out loss before training and at steps 4, 8 and 12: four dots.
    #expect(page.contains("<title>held-out loss, step 0: ") && page.contains("<title>held-out loss, step 12: "))
    #expect(page.contains("<section id=\"plan\">") && page.contains("<td>lora</td>") && page.contains("<th>kind</th>"))
    #expect(page.contains("<td>rank</td><td class=\"num\"></td><td>4</td>"))
    #expect(!page.contains("NaN") && !page.lowercased().contains("\"nan"))
  }

  /// A report of one step, without held-out data and written before per-step tokens/s were recorded: each chart
  /// without points says so, the one point is a dot, and no coordinate is NaN.
  @Test func shortAndOlderReportsStillRender() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let data = try TrainTests.writeData(dir)
    let report = dir.appendingPathComponent("run.json").path
    let result = try CLI.run([
      "train", "lora", "--model", TrainTests.model, "--data", data, "--seq-len", "48", "--rank", "4", "--steps", "1",
      "--val-fraction", "0", "--out", dir.appendingPathComponent("adapter").path, "--report", report,
    ])
    #expect(result.status == 0, "\(result.stderr)")
    var json = try BudgetTests.report(at: report)
    #expect(json.run.lossCurve.count == 1 && json.run.evalLoss == nil)
    json.run.tokensPerSecondCurve = nil
    json.run.rssCurve = []
    json.run.model = "<b>&\"odd\" model</b>"
    let older = dir.appendingPathComponent("older.json").path
    try JSONEncoder().encode(json).write(to: URL(fileURLWithPath: older))
    #expect(try CLI.decode(JSONKeys.self, file: older).keys.isDisjoint(with: ["tokens_per_second_curve", "eval_loss"]))
    let out = dir.appendingPathComponent("older page.html").path
    let rendered = try CLI.run(["report", older, "-o", out])
    #expect(rendered.status == 0, "\(rendered.stderr)")
    let page = try String(contentsOfFile: out, encoding: .utf8)
    #expect(page.contains("This report has no per-step figures"))
    #expect(page.contains("<section id=\"memory\" class=\"chart\">\n<h2>Memory over the run</h2>\n<p class=\"empty\">"))
    #expect(page.components(separatedBy: "<svg class=\"chart\"").count - 1 == 2, "loss and learning rate")
    #expect(page.contains("The run had no held-out data.") && page.contains("<circle "))
    #expect(!page.contains("<b>") && page.contains("&lt;b&gt;&amp;&quot;odd&quot; model&lt;/b&gt;"))
    #expect(!page.contains("NaN") && !page.lowercased().contains("\"nan"))
  }

  /// A missing file, a file that is not JSON and JSON that is no run report: exit 1, a message saying which, no page.
  @Test func filesThatAreNoReportAreClearErrors() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let missing = try CLI.run(["report", dir.appendingPathComponent("none.json").path])
    #expect(
      missing.exited && missing.status == 1 && missing.stderr.contains("cannot read the report ")
        && missing.stderr.contains("No such file"), "\(missing.stderr)")
    for (name, text, message) in [
      ("corrupt.json", "{\"method\": \"lora\", \"steps\": ", "it is not valid JSON"),
      ("other.json", "{\"method\": \"lora\"}", "it has no \"steps\""),
      ("typed.json", "{\"method\": \"lora\", \"steps\": \"many\"}", "\"steps\" is not a number"),
    ] {
      let path = dir.appendingPathComponent(name).path
      try text.write(toFile: path, atomically: true, encoding: .utf8)
      let result = try CLI.run(["report", path, "-o", path + ".html"])
      #expect(result.exited && result.status == 1, "\(name): \(result.stderr)")
      #expect(result.stderr.contains("\(path) is not a run report"), "\(result.stderr)")
      #expect(result.stderr.contains(message), "\(name): \(result.stderr)")
      #expect(!FileManager.default.fileExists(atPath: path + ".html"))
    }
  }
}
