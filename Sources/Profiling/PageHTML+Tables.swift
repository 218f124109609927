import Memory

/// The tables both pages show: the memory plan with its total, and free-form figures.
extension PageHTML {
  /// The plan's lines with their share of the planned peak, and a total row equal to `plannedPeak` (lines that never
  /// live at the same time can add up to more than the peak). A kind column when any line has a kind.
  static func planTable(_ plan: [ProfileDocument.PlanLine], plannedPeak: Int) -> String {
    let kinds = plan.contains { $0.kind != nil }
    var out = "<section id=\"plan\">\n<h2>Plan</h2>\n"
    out += "<table>\n<thead><tr><th>label</th><th class=\"num\">bytes</th><th class=\"num\">share of peak</th>"
    out += (kinds ? "<th>kind</th>" : "") + "<th>note</th></tr></thead>\n<tbody>\n"
    if plan.isEmpty { out += "<tr><td colspan=\"4\" class=\"empty\">no plan lines</td></tr>\n" }
    for line in plan {
      out += "<tr><td>\(escape(line.label))</td>" + numberCell(ByteCount.format(line.bytes))
      out += numberCell(share(line.bytes, of: plannedPeak)) + (kinds ? "<td>\(escape(line.kind ?? ""))</td>" : "")
      out += "<td>\(escape(line.note))</td></tr>\n"
    }
    out += "<tr class=\"total\"><td>planned peak</td>" + numberCell(ByteCount.format(plannedPeak))
    out += numberCell(plannedPeak > 0 ? "100.0 %" : "") + (kinds ? "<td></td>" : "") + "<td></td></tr>\n"
    return out + "</tbody>\n</table>\n</section>\n"
  }

  /// Free-form figures in their given order. A figure that is not a byte count carries its value in `note` with
  /// `bytes` 0, so the bytes cell is left empty for it.
  static func figureTable(_ figures: [ProfileDocument.PlanLine]) -> String {
    var out = "<section id=\"figures\">\n<h2>Figures</h2>\n"
    guard !figures.isEmpty else { return out + "<p class=\"empty\">no figures recorded</p>\n</section>\n" }
    out += "<table>\n<thead><tr><th>figure</th><th class=\"num\">bytes</th><th>value</th></tr></thead>\n<tbody>\n"
    for figure in figures {
      let bytes = figure.bytes == 0 ? "" : ByteCount.format(figure.bytes)
      out += "<tr><td>\(escape(figure.label))</td>" + numberCell(bytes) + "<td>\(escape(figure.note))</td></tr>\n"
    }
    return out + "</tbody>\n</table>\n</section>\n"
  }

  static func numberCell(_ text: String) -> String { "<td class=\"num\">\(escape(text))</td>" }

  /// "12.5 %" of `total`; empty when there is no total to divide by.
  static func share(_ part: Int, of total: Int) -> String {
    guard total > 0 else { return "" }
    return decimal(Double(part) / Double(total) * 100, places: 1) + " %"
  }

  /// A small coloured square before a name, the same colour as in the chart.
  static func swatch(_ color: String) -> String {
    "<span class=\"swatch\" style=\"background:\(color)\"></span> "
  }
}
