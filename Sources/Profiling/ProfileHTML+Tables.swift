import Memory

/// The table of peaks per phase (the plan and figure tables are `PageHTML`'s).
extension ProfileHTML {
  /// One row per phase with its highest kernel and ledger figures; the row holding the highest RSS is marked.
  static func phaseTable(_ phases: [ProfileDocument.PhasePeak]) -> String {
    var out = "<section id=\"phases\">\n<h2>Peaks per phase</h2>\n"
    guard !phases.isEmpty else { return out + "<p class=\"empty\">no phases recorded</p>\n</section>\n" }
    let highest = phases.map(\.peakRSS).max() ?? 0
    out += "<table>\n<thead><tr><th>phase</th><th class=\"num\">seconds</th><th class=\"num\">peak RSS</th>"
    out += "<th class=\"num\">peak RssAnon</th><th class=\"num\">peak RssFile</th><th class=\"num\">peak ledger</th>"
    out += "</tr></thead>\n<tbody>\n"
    for phase in phases {
      let marker = phase.peakRSS == highest && highest > 0 ? " class=\"highest\" title=\"highest RSS\"" : ""
      out += "<tr\(marker)><td>\(swatch(phaseColors(phase.phase).ribbon))\(escape(phase.phase))</td>"
      out += numberCell(decimal(phase.seconds, places: 1))
      out += numberCell(ByteCount.format(phase.peakRSS)) + numberCell(ByteCount.format(phase.peakAnon))
      out += numberCell(ByteCount.format(phase.peakFile)) + numberCell(ByteCount.format(phase.peakLedger))
      out += "</tr>\n"
    }
    return out + "</tbody>\n</table>\n</section>\n"
  }
}
