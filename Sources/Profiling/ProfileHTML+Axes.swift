import Memory

/// The timeline's axes, its phase ribbon and its legend.
extension ProfileHTML {
  /// Horizontal grid lines at power-of-two byte ticks, labelled on the left ("64 MiB"), and the axis title.
  static func byteGrid(_ scale: TimelineScale) -> String {
    var out = "<g class=\"byte-axis\">\n"
    for tick in scale.byteTicks {
      let y = scale.y(tick)
      out += "<line x1=\"\(coordinate(TimelineScale.plotLeft))\" y1=\"\(coordinate(y))\" "
      out += "x2=\"\(coordinate(TimelineScale.plotRight))\" y2=\"\(coordinate(y))\" "
      out += "stroke=\"\(tick == 0 ? "#6b7480" : "#dde1e6")\" stroke-width=\"1\" />\n"
      out += text(escape(TimelineScale.byteLabel(tick)), x: TimelineScale.plotLeft - 8, y: y + 4, anchor: "end")
    }
    let middle = (TimelineScale.plotTop + TimelineScale.plotBottom) / 2
    out += "<text class=\"axis-title\" x=\"16\" y=\"\(coordinate(middle))\" text-anchor=\"middle\" "
    out += "transform=\"rotate(-90 16 \(coordinate(middle)))\">bytes</text>\n"
    return out + "</g>\n"
  }

  /// The left edge, tick marks and labels along the bottom, and the axis title.
  static func timeAxis(_ scale: TimelineScale) -> String {
    var out = "<g class=\"time-axis\">\n"
    out += "<line x1=\"\(coordinate(TimelineScale.plotLeft))\" y1=\"\(coordinate(TimelineScale.plotTop))\" "
    out += "x2=\"\(coordinate(TimelineScale.plotLeft))\" y2=\"\(coordinate(TimelineScale.plotBottom))\" "
    out += "stroke=\"#6b7480\" stroke-width=\"1\" />\n"
    for tick in scale.timeTicks {
      let x = scale.x(tick.seconds)
      out += "<line x1=\"\(coordinate(x))\" y1=\"\(coordinate(TimelineScale.plotBottom))\" x2=\"\(coordinate(x))\" "
      out += "y2=\"\(coordinate(TimelineScale.plotBottom + 5))\" stroke=\"#6b7480\" stroke-width=\"1\" />\n"
      out += text(escape(tick.label), x: x, y: TimelineScale.plotBottom + 19, anchor: "middle")
    }
    let center = TimelineScale.plotLeft + scale.plotWidth / 2
    out += text(
      "time since start", x: center, y: TimelineScale.height - 8, anchor: "middle",
      extra: "class=\"axis-title\"")
    return out + "</g>\n"
  }

  /// A strip above the plot, coloured by phase. Bands wide enough carry their phase's name; runs of bands too
  /// narrow for a name are labelled together ("forward / backward / optimizer") where that fits.
  static func phaseRibbon(_ timeline: Timeline) -> String {
    let top = TimelineScale.ribbonTop
    let height = TimelineScale.plotTop - 4 - top
    let bands = timeline.bands()
    var out = "<g class=\"phase-ribbon\">\n"
    for band in bands where timeline.width(band) > 0 {
      let color = band.phases.count == 1 ? phaseColors(band.phases[0]).ribbon : mixedPhaseColors.ribbon
      out += rect(
        x: timeline.scale.x(band.start), y: top, width: timeline.width(band), height: height,
        fill: color, tooltip: bandTooltip(band))
    }
    var cluster: [String] = []
    var clusterStart = 0.0
    var clusterEnd = 0.0
    func flush() {
      defer { cluster = [] }
      out += ribbonLabel(cluster.joined(separator: " / "), from: clusterStart, to: clusterEnd, timeline.scale)
    }
    for band in bands {
      if band.phases.count == 1, timeline.width(band) >= labelWidth(band.phases[0]) {
        if !cluster.isEmpty { flush() }
        out += ribbonLabel(band.phases[0], from: band.start, to: band.end, timeline.scale)
        continue
      }
      if cluster.isEmpty { clusterStart = band.start }
      clusterEnd = band.end
      for phase in band.phases where !cluster.contains(phase) { cluster.append(phase) }
    }
    if !cluster.isEmpty { flush() }
    return out + "</g>\n"
  }

  /// `name` centred over `start...end` seconds if it fits there, else nothing.
  static func ribbonLabel(_ name: String, from start: Double, to end: Double, _ scale: TimelineScale) -> String {
    let left = scale.x(start)
    let right = scale.x(end)
    guard right - left >= labelWidth(name) else { return "" }
    return text(
      escape(name), x: (left + right) / 2, y: TimelineScale.ribbonTop + 16, anchor: "middle",
      extra: "class=\"phase\"")
  }

  /// Room a ribbon label needs: about 0.6 em a character at 11 px, plus a margin.
  static func labelWidth(_ name: String) -> Double { Double(name.count) * 6.6 + 10 }

  /// The legend under the chart: ledger labels (with their peaks), the kernel's and reference lines, the phases.
  static func legend(_ timeline: Timeline) -> String {
    var out =
      "<ul class=\"legend\" id=\"legend-ledger\">\n<li class=\"heading\">Ledger, stacked from the bottom:</li>\n"
    if timeline.labels.isEmpty { out += "<li class=\"empty\">no ledger labels</li>\n" }
    for label in timeline.labels {
      let peak = timeline.samples.map { $0.ledgerByLabel[label] ?? 0 }.max() ?? 0
      out += "<li>\(swatch(timeline.colors[label] ?? "#999"))\(escape(label)) "
      out += "<span class=\"note\">(peak \(ByteCount.format(peak)))</span></li>\n"
    }
    out += "</ul>\n<ul class=\"legend\" id=\"legend-lines\">\n<li class=\"heading\">Lines:</li>\n"
    out += legendLine("RSS", color: rssColor, style: "solid", width: 3)
    out += legendLine("RssAnon", color: anonColor, style: "solid", width: 2)
    out += legendLine("RssFile", color: fileColor, style: "solid", width: 2)
    if let budget = timeline.budget {
      out += legendLine("budget (\(ByteCount.format(budget)))", color: budgetColor, style: "dashed", width: 2)
    }
    if timeline.plannedPeak > 0 {
      out += legendLine(
        "planned peak (\(ByteCount.format(timeline.plannedPeak)))", color: plannedColor, style: "dotted", width: 2)
    }
    out += "</ul>\n<ul class=\"legend\" id=\"legend-phases\">\n<li class=\"heading\">Phases:</li>\n"
    var seen: [String] = []
    for run in timeline.runs where !seen.contains(run.phases[0]) { seen.append(run.phases[0]) }
    for phase in seen { out += "<li>\(swatch(phaseColors(phase).ribbon))\(escape(phase))</li>\n" }
    if timeline.bands().contains(where: { $0.phases.count > 1 }) {
      out += "<li>\(swatch(mixedPhaseColors.ribbon))several (steps too short to draw apart)</li>\n"
    }
    return out + "</ul>\n"
  }

  static func legendLine(_ name: String, color: String, style: String, width: Int) -> String {
    "<li><span class=\"stroke\" style=\"border-top:\(width)px \(style) \(color)\"></span>\(escape(name))</li>\n"
  }
}
