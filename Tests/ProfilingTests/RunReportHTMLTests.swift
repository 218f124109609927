import Foundation
import Testing

@testable import Profiling

@Suite struct RunReportHTMLTests {
  typealias Point = RunReportDocument.Point

  /// Documents the page must render without a crash, a NaN or an unbalanced element.
  enum Case: String, CaseIterable, Sendable {
    case loraRun, noSteps, onePoint, twoPoints, sameValue, noHeldOut, nonFinite, longRun, zeroBudget

    var document: RunReportDocument {
      switch self {
      case .loraRun: return SyntheticRun.loraRun()
      case .noSteps: return SyntheticRun.with([])
      case .onePoint: return SyntheticRun.with([Point(x: 1, y: 2.5)])
      case .twoPoints: return SyntheticRun.with([Point(x: 1, y: 2.5), Point(x: 2, y: 2.25)])
      case .sameValue: return SyntheticRun.with((1...5).map { Point(x: Double($0), y: 0) })
      case .noHeldOut:
        var document = SyntheticRun.loraRun()
        document.charts[0].series[1].points = []
        return document
      case .nonFinite:
        return SyntheticRun.with([
          Point(x: 1, y: .nan), Point(x: 2, y: .infinity), Point(x: .nan, y: 1), Point(x: 3, y: 2),
          Point(x: 4, y: -.infinity),
        ])
      case .longRun:
        return SyntheticRun.with((1...20_000).map { Point(x: Double($0), y: 1 + Double($0 % 97) / 97) })
      case .zeroBudget:
        var document = SyntheticRun.loraRun()
        document.charts[2].references = [.init(.budget, value: 0), .init(.plannedPeak, value: .nan)]
        return document
      }
    }

    /// Charts with at least one finite point draw an <svg>; the others say so instead.
    var drawnCharts: Int {
      switch self {
      case .noSteps: return 0
      default: return 4
      }
    }
  }

  @Test(arguments: Case.allCases)
  func rendersWellFormedPageWithFiniteNumbers(_ testCase: Case) {
    let page = RunReportHTML.render(testCase.document)
    #expect(HTMLInspection.problems(page).isEmpty, "\(testCase): \(HTMLInspection.problems(page))")
    #expect(!page.contains("NaN"))
    #expect(HTMLInspection.count("<svg ", in: page) == testCase.drawnCharts, "\(testCase)")
    #expect(HTMLInspection.count("<p class=\"empty\">", in: page) == 4 - testCase.drawnCharts)
    #expect(HTMLInspection.geometryValues(page).count >= testCase.drawnCharts * 20)
    #expect(HTMLInspection.element("section", id: "plan", in: page) != nil)
    #expect(page.utf8.count < 1_000_000)
  }

  @Test func onePointIsADotAndLongCurvesAreThinned() throws {
    let one = RunReportHTML.render(Case.onePoint.document)
    // One dot per series: two on the loss chart (training, held-out), one on each of the other three.
    #expect(HTMLInspection.count("<circle ", in: one) == 5)
    #expect(!one.contains("<polyline"))

    let long = RunReportHTML.render(Case.longRun.document)
    let loss = try #require(HTMLInspection.element("section", id: "loss", in: long))
    #expect(loss.contains("drawn from 2000 of their points"))
    #expect(HTMLInspection.count("<circle ", in: long) == 0, "400 dots at most per curve")
    let path = try #require(loss.firstMatch(of: #/<polyline points="([^"]*)"/#)?.output.1)
    #expect(path.split(separator: " ").count <= RunReportHTML.maxPoints + 1)
  }

  @Test func chartsHaveTheirLinesReferencesAndLegend() throws {
    let page = RunReportHTML.render(SyntheticRun.loraRun())
    let loss = try #require(HTMLInspection.element("section", id: "loss", in: page))
    // Training loss as a line, the held-out points as five dots with their step in the tooltip.
    #expect(HTMLInspection.count("<polyline ", in: loss) == 2)
    #expect(HTMLInspection.count("<circle ", in: loss) == 5)
    #expect(loss.contains("<title>held-out, step 0: 2.500</title>"))
    let legend = try #require(HTMLInspection.element("ul", id: "legend-loss", in: page))
    #expect(legend.contains("</span>training loss</li>") && legend.contains("</span>held-out</li>"))

    let memory = try #require(HTMLInspection.element("section", id: "memory", in: page))
    #expect(memory.contains("<line class=\"budget\"") && memory.contains(">budget 192.0 MiB</text>"))
    #expect(memory.contains(">planned peak 160.0 MiB</text>") && memory.contains(">64 MiB</text>"))
    let speed = try #require(HTMLInspection.element("section", id: "tokens-per-second", in: page))
    #expect(speed.contains("<line class=\"mean\"") && speed.contains(">mean 392.0</text>"))
    // Learning rates up to 4e-4 are labelled in steps of 1e-4.
    let lr = try #require(HTMLInspection.element("section", id: "learning-rate", in: page))
    #expect(lr.contains(">1e-4</text>") && lr.contains(">4e-4</text>") && lr.contains(">0</text>"))
  }

  @Test func summaryFlagsAndTables() throws {
    var document = SyntheticRun.loraRun()
    document.alarming = true
    document.flags = ["stopped early", "budget crossed"]
    let page = RunReportHTML.render(document)
    #expect(page.contains("<p class=\"verdict over\">Finished 40 steps within budget.</p>"))
    #expect(page.contains("<ul class=\"flags\">\n<li>stopped early</li>\n<li>budget crossed</li>\n</ul>"))
    #expect(page.contains("<div><dt>tokens/s</dt><dd>392</dd><dd class=\"note\">over 40 steps</dd></div>"))
    let plan = try #require(HTMLInspection.element("section", id: "plan", in: page))
    #expect(plan.contains("<th>kind</th>"))
    #expect(plan.contains("<td>lora</td><td class=\"num\">3.0 MiB</td><td class=\"num\">1.9 %</td><td>ledger</td>"))
    let figures = try #require(HTMLInspection.element("section", id: "figures", in: page))
    #expect(figures.contains("<td>seq_len</td><td class=\"num\"></td><td>256</td>"))
  }

  @Test func escapesEveryText() {
    let nasty = "<b>&\"q\"'"
    var document = SyntheticRun.loraRun()
    document.title = nasty
    document.subtitle = nasty
    document.verdict = nasty
    document.flags = [nasty]
    document.cards.append(.init(nasty, nasty, note: nasty))
    document.charts[0].id = nasty
    document.charts[0].title = nasty
    document.charts[0].caption = nasty
    document.charts[0].valueTitle = nasty
    document.charts[0].series[0].name = nasty
    document.charts[0].series[1].name = nasty
    document.charts[1].empty = nasty
    document.charts[1].series[0].points = []
    document.plan.append(.init(label: nasty, bytes: 1, note: nasty, kind: nasty))
    document.figures.append(.init(label: nasty, bytes: 0, note: nasty))
    let page = RunReportHTML.render(document)
    #expect(!page.contains(nasty))
    #expect(!page.contains("<b>"))
    #expect(HTMLInspection.count("&lt;b&gt;&amp;&quot;q&quot;&#39;", in: page) >= 20)
    #expect(HTMLInspection.xmlError(page) == nil)
  }

  @Test func stepAndValueAxes() {
    #expect(ChartAxis.steps(to: 25).ticks.map(\.label) == ["0", "5", "10", "15", "20", "25"])
    #expect(ChartAxis.steps(to: 1).ticks.map(\.label) == ["0", "1"])
    #expect(ChartAxis.steps(to: 0).high == 1)
    let loss = ChartAxis.values(from: 0.52, to: 2.31)
    #expect(loss.low == 0.5 && loss.high == 2.5)
    #expect(loss.ticks.map(\.label) == ["0.5", "1.0", "1.5", "2.0", "2.5"])
    let flat = ChartAxis.values(from: 3, to: 3)
    #expect(flat.low < 3 && flat.high > 3)
    let zero = ChartAxis.values(from: 0, to: 0)
    #expect(zero.low < 0 && zero.high > 0)
    #expect(ChartAxis.values(from: 0, to: 2e-4).ticks.map(\.label) == ["0", "0.5e-4", "1.0e-4", "1.5e-4", "2.0e-4"])
    #expect(ChartAxis.values(from: .nan, to: 1).high == 1)
    for (value, text) in [
      (4123.4, "4123"), (412.34, "412.3"), (2.3456, "2.346"), (0.03123, "0.03123"), (2e-4, "2.00e-4"),
    ] {
      #expect(significant(value) == text, "\(value)")
    }
    #expect(significant(.nan) == "0" && significant(0) == "0")
  }

  /// Writes the sample page to `$EDGETUNE_RUN_SAMPLE_OUT` (for Tools/check-report-html and docs); does nothing when the
  /// variable is unset.
  @Test func writeSamplePage() throws {
    guard let path = ProcessInfo.processInfo.environment["EDGETUNE_RUN_SAMPLE_OUT"], !path.isEmpty else { return }
    try RunReportHTML.render(SyntheticRun.loraRun()).write(toFile: path, atomically: true, encoding: .utf8)
  }
}
