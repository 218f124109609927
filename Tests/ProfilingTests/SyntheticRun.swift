import Foundation
import Profiling

/// Run pages made up for the renderer tests: a realistic short LoRA run, and the edge cases the page must survive.
enum SyntheticRun {
  static let mib = 1 << 20

  /// 40 steps of LoRA: loss falling from 2.5, held-out loss before training and every 10 steps, a warm-up then cosine
  /// learning rate, RSS about 150 MiB under a 192 MiB budget, about 400 tokens/s.
  static func loraRun() -> RunReportDocument {
    let steps = (1...40).map(Double.init)
    let loss = steps.map { RunReportDocument.Point(x: $0, y: 0.4 + 2.1 * (1 - $0 / 40) * (1 - $0 / 40)) }
    let heldOut = [0.0, 10, 20, 30, 40].map { RunReportDocument.Point(x: $0, y: 0.5 + 2.0 * (1 - $0 / 40)) }
    let lr = steps.map { RunReportDocument.Point(x: $0, y: $0 <= 4 ? 2e-4 * $0 / 4 : 2e-4 * (1 + cos($0 / 40))) }
    let rss = steps.map { RunReportDocument.Point(x: $0, y: Double((140 + Int($0) % 7) * mib)) }
    let speed = steps.map { RunReportDocument.Point(x: $0, y: $0 == 1 ? 150 : 400 + 10 * sin($0)) }
    return RunReportDocument(
      title: "lora on SmolLM2-135M", subtitle: "smollm2.nf4 → adapter/", verdict: "Finished 40 steps within budget.",
      alarming: false, flags: [],
      cards: [.init("method", "lora", note: "rank 8 on q, v"), .init("tokens/s", "392", note: "over 40 steps")],
      charts: [
        chart(
          "loss", [.init(name: "training loss", points: loss), .init(name: "held-out", points: heldOut, markers: true)]),
        chart("learning-rate", [.init(name: "learning rate", points: lr)]),
        .init(
          id: "memory", title: "Memory", caption: "", valueTitle: "bytes", unit: .bytes,
          series: [.init(name: "RSS", points: rss)],
          references: [.init(.budget, value: Double(192 * mib)), .init(.plannedPeak, value: Double(160 * mib))],
          empty: "no steps"),
        chart("tokens-per-second", [.init(name: "tokens/s", points: speed)], references: [.init(.mean, value: 392)]),
      ],
      plan: [
        .init(label: "weights", bytes: 84 * mib, note: "NF4 model file, mapped", kind: "weights"),
        .init(label: "lora", bytes: 3 * mib, note: "rank 8 on q, v", kind: "ledger"),
      ],
      plannedPeak: 160 * mib,
      figures: [
        .init(label: "seq_len", bytes: 0, note: "256"), .init(label: "optimizer state", bytes: mib, note: "ram"),
      ])
  }

  static func chart(
    _ id: String, _ series: [RunReportDocument.Series], references: [RunReportDocument.Reference] = []
  ) -> RunReportDocument.Chart {
    .init(
      id: id, title: id, caption: "", valueTitle: id, series: series, references: references,
      empty: "no \(id) recorded")
  }

  /// `loraRun` with every chart's series replaced by `points` (each series the same).
  static func with(_ points: [RunReportDocument.Point]) -> RunReportDocument {
    var document = loraRun()
    for index in document.charts.indices {
      for series in document.charts[index].series.indices { document.charts[index].series[series].points = points }
    }
    return document
  }
}
