import Memory

/// A memory profile as one self-contained HTML5 page (see `PageHTML`): the summary (budget, planned and measured peak,
/// verdict), an inline-SVG timeline of the ledger by label under the kernel's RSS, and the phase, plan and figure
/// tables.
public enum ProfileHTML: PageHTML {
  /// The whole page for `document`.
  public static func render(_ document: ProfileDocument) -> String {
    let title = document.title.isEmpty ? "Memory profile" : document.title
    var body = header(title: title, command: document.command)
    body += summary(document)
    body += timelineSection(document)
    body += phaseTable(document.phases)
    body += planTable(document.plan, plannedPeak: document.plannedPeak)
    body += figureTable(document.figures)
    return page(title: title, body: body)
  }

  /// The verdict sentence, then four figures: budget, planned peak, measured peak (VmHWM), and how far apart they are.
  static func summary(_ document: ProfileDocument) -> String {
    let over = document.budget.map { document.measuredPeak > $0 } ?? false
    var out = "<p class=\"verdict \(over ? "over" : "fits")\">\(escape(document.verdict))</p>\n"
    out += "<dl class=\"summary\">\n"
    out += card("budget", document.budget.map(ByteCount.format) ?? "no budget", note: budgetNote(document))
    out += card("planned peak", ByteCount.format(document.plannedPeak), note: "sum of the plan at its peak")
    out += card("measured peak (VmHWM)", ByteCount.format(document.measuredPeak), note: "the kernel's high-water mark")
    out += card("measured vs planned", percentDifference(document), note: differenceNote(document))
    return out + "</dl>\n"
  }

  static func budgetNote(_ document: ProfileDocument) -> String {
    guard let budget = document.budget else { return "run without --budget" }
    let headroom = budget - document.measuredPeak
    if headroom >= 0 { return "\(ByteCount.format(headroom)) to spare at the measured peak" }
    return "exceeded by \(ByteCount.format(-headroom)) at the measured peak"
  }

  /// "+4.2 %": the measured peak relative to the planned one; "n/a" without a plan.
  static func percentDifference(_ document: ProfileDocument) -> String {
    guard document.plannedPeak > 0 else { return "n/a" }
    let percent = Double(document.measuredPeak - document.plannedPeak) / Double(document.plannedPeak) * 100
    return (percent >= 0 ? "+" : "-") + decimal(abs(percent), places: 1) + " %"
  }

  static func differenceNote(_ document: ProfileDocument) -> String {
    guard document.plannedPeak > 0 else { return "no planned peak to compare with" }
    let difference = document.measuredPeak - document.plannedPeak
    if difference == 0 { return "exactly as planned" }
    return "\(ByteCount.format(abs(difference))) " + (difference > 0 ? "above" : "below") + " the plan"
  }
}
