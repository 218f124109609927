import Foundation
import Memory
import Testing

@testable import Profiling

@Suite struct ProfileHTMLTests {
  static let mib = SyntheticProfile.mib

  /// Documents the page must render without a crash, a NaN or an unbalanced element.
  enum Case: String, CaseIterable, Sendable {
    case loraRun, noSamples, oneSample, allZero, huge, nonFiniteSeconds, sameInstant, unsorted, manyTinySteps

    var document: ProfileDocument {
      let mib = SyntheticProfile.mib
      let gib = mib << 10
      func sample(_ t: Double, _ phase: String, _ bytes: Int) -> MemorySample {
        SyntheticProfile.sample(
          t, phase, rss: bytes, anon: bytes / 3, file: bytes - bytes / 3,
          ledger: ["weights": bytes / 2, "activations": bytes / 4])
      }
      switch self {
      case .loraRun: return SyntheticProfile.loraRun()
      case .noSamples: return SyntheticProfile.with([])
      case .oneSample: return SyntheticProfile.with([sample(3, "load", 100 * mib)])
      case .allZero:
        var document = SyntheticProfile.with((0..<5).map { sample(Double($0), "idle", 0) }, budget: nil)
        (document.plan, document.plannedPeak, document.measuredPeak) = ([], 0, 0)
        return document
      case .huge:
        return SyntheticProfile.with(
          [sample(0, "load", 10 * gib), sample(60, "forward", 48 * gib), sample(90, "backward", 52 * gib)],
          budget: 64 * gib)
      case .nonFiniteSeconds:
        return SyntheticProfile.with([
          sample(.nan, "load", mib), sample(1, "load", 2 * mib), sample(.infinity, "forward", 3 * mib),
          sample(2, "forward", 4 * mib), sample(-.infinity, "eval", mib),
        ])
      case .sameInstant:
        return SyntheticProfile.with([sample(2, "load", mib), sample(2, "forward", 2 * mib), sample(2, "eval", mib)])
      case .unsorted:
        return SyntheticProfile.with([sample(5, "eval", mib), sample(1, "load", 2 * mib), sample(3, "forward", mib)])
      case .manyTinySteps:
        let phases = ["forward", "backward", "optimizer"]
        return SyntheticProfile.with(
          (0..<20_000).map { sample(Double($0) * 0.01, phases[$0 % 3], (100 + $0 % 7) * mib) })
      }
    }
  }

  @Test(arguments: Case.allCases)
  func rendersWellFormedPageWithFiniteNumbers(_ testCase: Case) {
    let page = ProfileHTML.render(testCase.document)
    #expect(HTMLInspection.problems(page).isEmpty, "\(testCase): \(HTMLInspection.problems(page))")
    #expect(HTMLInspection.count("<svg ", in: page) == (testCase == .noSamples ? 0 : 1))
    #expect(page.contains("no samples") == (testCase == .noSamples))
    #expect(HTMLInspection.geometryValues(page).count >= (testCase == .noSamples ? 0 : 50))
  }

  @Test func noScriptsNoNetwork() {
    let page = ProfileHTML.render(SyntheticProfile.loraRun())
    for forbidden in ["<script", "<link", "<img", "@import", "url(", "src=", "https:"] {
      #expect(!page.contains(forbidden), "\(forbidden)")
    }
    // The only URL is the SVG namespace, which is a name, not something fetched.
    #expect(page.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "").contains("http") == false)
  }

  @Test func summaryShowsBudgetPeaksDifferenceAndVerdict() {
    var document = SyntheticProfile.loraRun()
    document.plannedPeak = 100 * Self.mib
    document.measuredPeak = 110 * Self.mib
    let page = ProfileHTML.render(document)
    #expect(page.contains("<title>LoRA on SmolLM2-135M</title>"))
    #expect(page.contains("edgetune profile train lora --model smollm2.nf4 --budget 192MiB"))
    #expect(page.contains("<dd>192.0 MiB</dd>"))
    #expect(page.contains("<dd>100.0 MiB</dd>") && page.contains("<dd>110.0 MiB</dd>"))
    #expect(page.contains("<dd>+10.0 %</dd>"))
    #expect(page.contains("<p class=\"verdict fits\">Fits: the measured peak"))

    document.budget = nil
    document.measuredPeak = 95 * Self.mib
    let noBudget = ProfileHTML.render(document)
    #expect(noBudget.contains("<dd>no budget</dd>"))
    #expect(noBudget.contains("<dd>-5.0 %</dd>"))

    document.budget = 64 * Self.mib
    #expect(ProfileHTML.render(document).contains("<p class=\"verdict over\">"))
  }

  @Test func budgetLineOnlyWithBudget() {
    var document = SyntheticProfile.loraRun()
    let withBudget = ProfileHTML.render(document)
    #expect(HTMLInspection.count("<line class=\"budget\"", in: withBudget) == 1)
    #expect(withBudget.contains(">budget 192.0 MiB</text>"))
    #expect(HTMLInspection.count("<line class=\"planned\"", in: withBudget) == 1)
    #expect(withBudget.contains(">planned peak 160.0 MiB</text>"))

    document.budget = nil
    let withoutBudget = ProfileHTML.render(document)
    #expect(!withoutBudget.contains("class=\"budget\""))
    #expect(!withoutBudget.contains(">budget "))
    #expect(HTMLInspection.count("<line class=\"planned\"", in: withoutBudget) == 1)
  }

  @Test func kernelLinesAreDrawn() {
    let page = ProfileHTML.render(SyntheticProfile.loraRun())
    for name in ["RSS", "RssAnon", "RssFile"] {
      #expect(page.contains("<polyline class=\"\(name)\" points=\""), "\(name)")
    }
  }

  @Test func axesUseHumanSizesAndSeconds() {
    let page = ProfileHTML.render(SyntheticProfile.loraRun())
    // 192 MiB budget plus 5 % headroom: steps of 32 MiB up to 224 MiB.
    for label in ["0 B", "32 MiB", "64 MiB", "192 MiB", "224 MiB"] {
      #expect(page.contains(">\(label)</text>"), "\(label)")
    }
    #expect(!page.contains(">256 MiB</text>"))
    // 310 samples 0.2 s apart: 61.8 s, ticks every 10 s.
    for label in ["0 s", "10 s", "60 s"] { #expect(page.contains(">\(label)</text>"), "\(label)") }

    let huge = ProfileHTML.render(Case.huge.document)
    for label in ["16 GiB", "64 GiB", "80 GiB"] { #expect(huge.contains(">\(label)</text>"), "\(label)") }
  }

  @Test func escapesEveryText() {
    let nasty = "<b>&\"q\"'"
    var document = SyntheticProfile.loraRun()
    document.title = nasty
    document.command = nasty
    document.verdict = nasty
    document.plan.append(.init(label: nasty, bytes: Self.mib, note: nasty))
    document.figures.append(.init(label: nasty, bytes: 0, note: nasty))
    for index in document.samples.indices.suffix(20) {
      document.samples[index].phase = nasty
      document.samples[index].ledgerByLabel[nasty] = 2 * Self.mib
    }
    document.phases = SyntheticProfile.phasePeaks(document.samples)
    let page = ProfileHTML.render(document)
    #expect(!page.contains(nasty))
    #expect(!page.contains("<b>"))
    let escaped = "&lt;b&gt;&amp;&quot;q&quot;&#39;"
    // title, h1, command, verdict, plan label and note, figure label and note, phase table, legend (ledger and
    // phase), area and band tooltips.
    #expect(HTMLInspection.count(escaped, in: page) >= 12)
    #expect(HTMLInspection.xmlError(page) == nil)
  }

  @Test func legendListsEveryLabelAndLine() throws {
    let document = SyntheticProfile.loraRun()
    let page = ProfileHTML.render(document)
    let labels = Set(document.samples.flatMap(\.ledgerByLabel.keys))
    #expect(labels.count == 8)
    let ledgerLegend = try #require(HTMLInspection.element("ul", id: "legend-ledger", in: page))
    for label in labels {
      #expect(ledgerLegend.contains("</span> \(label) <span class=\"note\">(peak "), "\(label)")
      #expect(page.contains("<title>\(label)</title></polygon>"), "\(label)")
    }
    #expect(HTMLInspection.count("<polygon ", in: page) == labels.count)
    let lineLegend = try #require(HTMLInspection.element("ul", id: "legend-lines", in: page))
    for name in ["RSS", "RssAnon", "RssFile", "budget (192.0 MiB)", "planned peak (160.0 MiB)"] {
      #expect(lineLegend.contains("</span>\(name)</li>"), "\(name)")
    }
  }

  @Test func ledgerColoursAreStableAndDistinct() {
    let labels = ["weights", "checkpoints", "activations", "gradients", "scratch", "logits", "lora", "optimizer-state"]
    let colors = ProfileHTML.ledgerColors(labels)
    #expect(Set(colors.values).count == labels.count)
    #expect(ProfileHTML.ledgerColors(labels.reversed()) == colors)
    let many = ProfileHTML.ledgerColors((0..<14).map { "label\($0)" })
    #expect(Set(many.values).count == 14)
  }

  @Test func phasesAppearInRibbonLegendAndTable() throws {
    let page = ProfileHTML.render(SyntheticProfile.loraRun())
    let phaseLegend = try #require(HTMLInspection.element("ul", id: "legend-phases", in: page))
    let table = try #require(HTMLInspection.element("section", id: "phases", in: page))
    for phase in ["load", "forward", "backward", "optimizer", "eval", "save"] {
      #expect(phaseLegend.contains("</span> \(phase)</li>"), "\(phase)")
      #expect(table.contains("</span> \(phase)</td>"), "\(phase)")
    }
    // Load, both evals and the save are wide enough for their own names; the steps are labelled together.
    for (name, count) in [("load", 1), ("eval", 2), ("save", 1), ("forward / backward / optimizer", 2)] {
      #expect(HTMLInspection.count("class=\"phase\">\(name)</text>", in: page) == count, "\(name)")
    }
  }

  @Test func phaseRunsFollowConsecutiveSamples() throws {
    let mib = Self.mib
    let samples = [(0.0, "load"), (1, "load"), (2, "forward"), (3, "backward"), (4, "forward"), (5, "forward")].map {
      SyntheticProfile.sample($0.0, $0.1, rss: mib, anon: 0, file: mib, ledger: [:])
    }
    let timeline = try #require(Timeline(SyntheticProfile.with(samples)))
    #expect(
      timeline.runs.map { "\($0.phases.joined(separator: "+")) \(Int($0.start))-\(Int($0.end))" } == [
        "load 0-2", "forward 2-3", "backward 3-4", "forward 4-5",
      ])
    // Runs wide enough to see are never merged.
    #expect(timeline.bands() == timeline.runs)
  }

  @Test func tinyStepsMergeIntoOneBandAndThinningKeepsPeaks() throws {
    let document = Case.manyTinySteps.document
    let timeline = try #require(Timeline(document))
    #expect(timeline.runs.count == 20_000)
    let bands = timeline.bands()
    #expect(bands.count == 1)
    #expect(bands.first?.phases == ["forward", "backward", "optimizer"])
    #expect(timeline.plotted.count <= Timeline.maxPoints + 1)
    #expect(timeline.plotted.map(\.rss).max() == document.samples.map(\.rss).max())
    let page = ProfileHTML.render(document)
    #expect(page.contains("several (steps too short to draw apart)"))
    #expect(page.utf8.count < 1_000_000)
  }

  @Test func planTableTotalsToPlannedPeak() throws {
    let page = ProfileHTML.render(SyntheticProfile.loraRun())
    let plan = try #require(HTMLInspection.element("section", id: "plan", in: page))
    #expect(plan.contains("<td>weights</td><td class=\"num\">84.0 MiB</td><td class=\"num\">52.5 %</td>"))
    #expect(plan.contains("<tr class=\"total\"><td>planned peak</td><td class=\"num\">160.0 MiB</td>"))
    let figures = try #require(HTMLInspection.element("section", id: "figures", in: page))
    #expect(figures.contains("<td>tokens/s</td><td class=\"num\"></td><td>412</td>"))
  }

  @Test func scaleTicks() {
    for (raw, step, places) in [(6.08, 10.0, 0), (0.13, 0.2, 1), (0.004, 0.005, 3), (45, 50, 0), (1, 1, 0)] {
      let nice = ChartAxis.niceStep(raw)
      #expect(abs(nice.step - step) < step * 1e-9 && nice.places == places, "\(raw) -> \(nice)")
    }
    #expect(ChartAxis.byteLabel(0) == "0 B")
    #expect(ChartAxis.byteLabel(1536 * 1_048_576) == "1.5 GiB")
    #expect(ChartAxis.byteLabel(512) == "512 B")
    let scale = ChartScale(frame: .timeline, xAxis: .time(from: 0, to: 10), yAxis: .bytes(upTo: 0))
    #expect(scale.yAxis.high == 1_048_576)
    #expect(scale.x(10) == scale.frame.plotRight && scale.y(0) == scale.frame.plotBottom)
  }

  /// Writes the sample page to `$EDGETUNE_PROFILE_SAMPLE_OUT` (for Tools/check-profile-html and docs); does nothing
  /// when the variable is unset.
  @Test func writeSamplePage() throws {
    guard let path = ProcessInfo.processInfo.environment["EDGETUNE_PROFILE_SAMPLE_OUT"], !path.isEmpty else { return }
    try ProfileHTML.render(SyntheticProfile.loraRun()).write(toFile: path, atomically: true, encoding: .utf8)
  }
}
