import Memory

/// A memory profile as one self-contained HTML5 page: the summary (budget, planned and measured peak, verdict), an
/// inline-SVG timeline of the ledger by label under the kernel's RSS, and the phase, plan and figure tables.
///
/// No JavaScript and nothing fetched (fonts, styles, images): the page can be attached to a CI run or mailed and still
/// opens offline. Every element is closed (`<meta ... />`), so the page also parses as XML, which the tests rely on.
public enum ProfileHTML {
  /// The whole page for `document`.
  public static func render(_ document: ProfileDocument) -> String {
    let title = document.title.isEmpty ? "Memory profile" : document.title
    var page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n"
    page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n"
    page += "<meta name=\"generator\" content=\"EdgeTune\" />\n"
    page += "<title>\(escape(title))</title>\n<style>\n\(styleSheet)</style>\n</head>\n<body>\n<main>\n"
    page += header(title: title, command: document.command)
    page += summary(document)
    page += timelineSection(document)
    page += phaseTable(document.phases)
    page += planTable(document.plan, plannedPeak: document.plannedPeak)
    page += figureTable(document.figures)
    page += "</main>\n</body>\n</html>\n"
    return page
  }

  /// `text` safe inside element content and double- or single-quoted attribute values.
  static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text {
      switch character {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(character)
      }
    }
    return out
  }

  static func header(title: String, command: String) -> String {
    var out = "<header>\n<h1>\(escape(title))</h1>\n"
    if !command.isEmpty { out += "<p class=\"command\"><code>\(escape(command))</code></p>\n" }
    return out + "</header>\n"
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

  static func card(_ term: String, _ value: String, note: String) -> String {
    "<div><dt>\(escape(term))</dt><dd>\(escape(value))</dd><dd class=\"note\">\(escape(note))</dd></div>\n"
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

  /// `x` with a fixed number of decimals ("12.5"); "0" for NaN or infinity, so no "nan" reaches the page.
  static func decimal(_ x: Double, places: Int) -> String {
    guard x.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    // Beyond 1e15 the scaled value no longer fits an Int exactly; nothing on this page is that large.
    let scaled = min(max((abs(x) * scale).rounded(), 0), 1e15)
    let units = Int(scaled)
    let factor = Int(scale)
    let sign = x < 0 && units != 0 ? "-" : ""
    guard places > 0 else { return sign + "\(units)" }
    let fraction = String(units % factor)
    let padding = String(repeating: "0", count: places - fraction.count)
    return sign + "\(units / factor)." + padding + fraction
  }

  static let styleSheet = """
    :root { color-scheme: light; --ink: #1d232b; --muted: #5b6573; --rule: #d8dde3; --fits: #1b7f3b; --over: #b3261e; }
    * { box-sizing: border-box; }
    body { margin: 0; background: #f6f7f9; color: var(--ink);
      font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif; }
    main { max-width: 1180px; margin: 0 auto; padding: 24px 20px 40px; }
    h1 { font-size: 26px; margin: 0 0 4px; }
    h2 { font-size: 18px; margin: 0 0 12px; }
    .command code { display: block; padding: 6px 10px; background: #eceff3; border-radius: 4px;
      font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; white-space: pre-wrap;
      word-break: break-all; }
    .verdict { font-size: 20px; font-weight: 600; margin: 16px 0; padding: 14px 18px; border-radius: 6px;
      background: #fff; border-left: 6px solid var(--fits); }
    .verdict.over { border-left-color: var(--over); color: var(--over); }
    .summary { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 0 0 20px; }
    .summary div { background: #fff; border: 1px solid var(--rule); border-radius: 6px; padding: 10px 14px; }
    .summary dt { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .04em; }
    .summary dd { margin: 2px 0 0; font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
    .summary dd.note { font-size: 13px; font-weight: 400; color: var(--muted); }
    section { background: #fff; border: 1px solid var(--rule); border-radius: 6px; padding: 16px 18px;
      margin: 0 0 20px; }
    svg.timeline { display: block; width: 100%; height: auto; }
    svg.timeline text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
      fill: #333; }
    svg.timeline .axis-title { font-weight: 600; fill: #555; }
    svg.timeline .ref { font-weight: 600; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
    svg.timeline .phase { font-size: 11px; fill: #222; paint-order: stroke; stroke: #fff; stroke-width: 2.5px;
      stroke-opacity: .8; }
    .caption { color: var(--muted); font-size: 13px; margin: -6px 0 8px; }
    .legend .note { color: var(--muted); }
    .legend { list-style: none; margin: 10px 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 18px;
      font-size: 13px; }
    .legend li { display: flex; align-items: center; gap: 6px; }
    .legend .heading { font-weight: 600; color: var(--muted); }
    .swatch { display: inline-block; width: 14px; height: 14px; border-radius: 2px; border: 1px solid #0003; }
    .stroke { display: inline-block; width: 22px; height: 0; border-top-width: 2px; }
    .empty { color: var(--muted); font-style: italic; }
    table { border-collapse: collapse; width: 100%; font-size: 14px; }
    th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--rule); vertical-align: top; }
    th { color: var(--muted); font-weight: 600; }
    td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
    tr.total td { font-weight: 700; border-top: 2px solid var(--ink); border-bottom: none; }

    """
}
