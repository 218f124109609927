import Formats
import Foundation
import Memory
public import Profiling
public import Training

/// The run page's table of settings and figures, and the method's settings in one line for its summary card.
public enum RunReportFigures {
  public typealias Figure = ProfileDocument.PlanLine

  /// Settings, then speed, memory, paging and streaming, then the method's and objective's own fields.
  static func figures(_ report: FineTuneReport) -> [Figure] {
    let run = report.run
    let plan = report.plan
    var figures: [Figure] = [
      .init(label: "model", bytes: 0, note: run.model),
      .init(label: "result", bytes: 0, note: run.adapter),
      .init(
        label: "sequence length × batch × accumulation", bytes: 0,
        note: "\(run.seqLen) × \(run.batch) × \(run.gradAccum)"),
      .init(label: "learning rate", bytes: 0, note: String(format: "%g", run.lr)),
      .init(label: "tokens", bytes: 0, note: "\(run.tokens)"),
      .init(
        label: "time", bytes: 0,
        note: String(format: "%.1f s training, %.1f s in all", run.trainSeconds, run.wallSeconds)),
      .init(label: "peak anonymous memory", bytes: run.peakAnonBytes, note: "RssAnon: not reclaimable"),
      .init(label: "optimizer state", bytes: run.optimizerStateBytes, note: run.optimizerState),
      .init(label: "weights streamed", bytes: 0, note: plan.weightsStreamed ? "yes" : "no"),
      .init(label: "gradient checkpointing", bytes: 0, note: plan.gradientCheckpointing ? "on" : "off"),
      .init(
        label: "kernel above plan (max)", bytes: plan.kernelAbovePlanMaxBytes,
        note: "margin \(ByteCount.format(plan.kernelAbovePlanMarginBytes))"
          + (plan.kernelAbovePlanExceeded ? ", exceeded" : "")),
      .init(label: "budget reliefs", bytes: 0, note: "\(plan.budgetReliefs) (weights dropped and heap trimmed)"),
    ]
    figures += plan.planChoices.map { .init(label: "plan choice", bytes: 0, note: $0) }
    for (label, bytes) in run.ledgerPeakBytesByLabel.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
      figures.append(.init(label: "ledger peak: \(label)", bytes: bytes, note: ""))
    }
    figures += run.paging.map(paging) ?? []
    let s = run.streaming
    if s.layerDrops + s.prefetches + s.tileDrops > 0 {
      figures.append(
        .init(
          label: "weight streaming", bytes: 0,
          note: "\(s.layerDrops) layer drops, \(s.prefetches) prefetches, \(s.tileDrops) tile drops"))
    }
    for (label, count) in [("pairs", run.pairs), ("validation pairs", run.validationPairs), ("prompts", run.prompts)] {
      if let count { figures.append(.init(label: label, bytes: 0, note: "\(count)")) }
    }
    for key in Set((run.eval ?? [:]).keys).union((run.evalBefore ?? [:]).keys).sorted() {
      let before = run.evalBefore?[key].map { String(format: "%.4f", $0) } ?? "-"
      let after = run.eval?[key].map { String(format: "%.4f", $0) } ?? "-"
      figures.append(.init(label: "held-out \(key)", bytes: 0, note: "\(before) → \(after)"))
    }
    figures += methodFields(report.method).map { .init(label: $0.0, bytes: 0, note: $0.1) }
    return figures
  }

  /// The optimizer state's paging: pages moved, spill bytes and their compression, time waiting on the spill file
  /// (on the run page and the profile page).
  public static func paging(_ p: PagingReport) -> [Figure] {
    [
      .init(label: "optimizer pages in/out", bytes: 0, note: "\(p.pagesIn) in, \(p.pagesOut) out"),
      .init(
        label: "spill bytes written", bytes: p.bytesWritten,
        note: String(format: "LZ4 ratio %.2f; %@ read", p.compressionRatio, ByteCount.format(p.bytesRead))),
      .init(
        label: "waiting on spill I/O", bytes: 0,
        note: String(
          format: "%.2f s of %.2f s of I/O (%.1f%% of training time)", p.ioWaitSeconds, p.ioSeconds,
          100 * p.ioWaitShare)),
    ]
  }

  /// "rank 8, alpha 16, targets q, v": the method's fields as its report carries them.
  static func methodSummary(_ fields: MethodReportFields) -> String {
    let list = methodFields(fields)
    return list.isEmpty ? "no settings of its own" : list.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
  }

  /// The method's fields that are set, by their report names ("rank", "virtual_tokens"), in that order. Read back
  /// from the fields' JSON so that a field added to the report shows here without a change.
  static func methodFields(_ fields: MethodReportFields) -> [(String, String)] {
    guard let data = try? JSONEncoder().encode(fields),
      let object = try? JSONDecoder().decode([String: JSONValue].self, from: data)
    else { return [] }
    return object.keys.sorted().map { key in (key, plainText(object[key]!)) }
  }

  /// A field's value as the page shows it: strings bare, lists joined with commas, numbers and flags as JSON has them.
  static func plainText(_ value: JSONValue) -> String {
    switch value {
    case .string(let text): text
    case .array(let elements): elements.map(plainText).joined(separator: ", ")
    default: value.description
    }
  }
}
