import Memory

/// The timeline's phase ribbon and its legend.
extension ProfileHTML {
  /// A strip above the plot, coloured by phase. Bands wide enough carry their phase's name; runs of bands too
  /// narrow for a name are labelled together ("forward / backward / optimizer") where that fits.
  static func phaseRibbon(_ timeline: Timeline) -> String {
    let top = Timeline.ribbonTop
    let height = timeline.scale.frame.plotTop - 4 - top
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
  static func ribbonLabel(_ name: String, from start: Double, to end: Double, _ scale: ChartScale) -> String {
    let left = scale.x(start)
    let right = scale.x(end)
    guard right - left >= labelWidth(name) else { return "" }
    return text(
      escape(name), x: (left + right) / 2, y: Timeline.ribbonTop + 16, anchor: "middle",
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
    for line in memoryReferences(budget: timeline.budget, plannedPeak: timeline.plannedPeak) {
      out += legendLine(line)
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
}
