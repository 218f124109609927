import Memory

/// The memory timeline as inline SVG: phase bands behind, the ledger stacked by label, the kernel's RSS, RssAnon and
/// RssFile as lines, dashed budget and planned-peak lines, byte and time axes, a phase ribbon on top, and an HTML
/// legend below (HTML so it wraps instead of overlapping the plot).
extension ProfileHTML {
  static func timelineSection(_ document: ProfileDocument) -> String {
    var out = "<section id=\"timeline\">\n<h2>Memory over time</h2>\n"
    guard let timeline = Timeline(document) else { return out + "<p class=\"empty\">no samples</p>\n</section>\n" }
    out += "<p class=\"caption\">\(escape(caption(timeline)))</p>\n"
    out += timelineSVG(timeline) + legend(timeline)
    return out + "</section>\n"
  }

  static func caption(_ timeline: Timeline) -> String {
    let count = timeline.samples.count
    let seconds = decimal((timeline.samples.last?.seconds ?? 0) - (timeline.samples.first?.seconds ?? 0), places: 1)
    var text = count == 1 ? "One sample, its levels drawn flat." : "\(count) samples over \(seconds) s."
    if timeline.plotted.count < count {
      text += " Drawn from \(timeline.plotted.count) of them, keeping the highest of each stretch."
    }
    return text + " Areas: the ledger's reservations by label, stacked; lines: what the kernel reports resident."
  }

  static func timelineSVG(_ timeline: Timeline) -> String {
    let size = "width=\"\(coordinate(TimelineScale.width))\" height=\"\(coordinate(TimelineScale.height))\""
    var out = "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "
    out += "\(coordinate(TimelineScale.width)) \(coordinate(TimelineScale.height))\" \(size) role=\"img\" "
    out += "aria-label=\"memory timeline\">\n<title>Memory over time</title>\n"
    out += phaseBands(timeline) + byteGrid(timeline.scale) + stackedAreas(timeline) + kernelLines(timeline)
    out += referenceLines(timeline) + timeAxis(timeline.scale) + phaseRibbon(timeline)
    return out + "</svg>\n"
  }

  /// Pale full-height bands, one per phase run (tiny runs merged), with the run as a tooltip.
  static func phaseBands(_ timeline: Timeline) -> String {
    var out = "<g class=\"phase-bands\" fill-opacity=\"0.75\">\n"
    for band in timeline.bands() where timeline.width(band) > 0 {
      let color = band.phases.count == 1 ? phaseColors(band.phases[0]).band : mixedPhaseColors.band
      out += rect(
        x: timeline.scale.x(band.start), y: TimelineScale.plotTop, width: timeline.width(band),
        height: timeline.scale.plotHeight, fill: color, tooltip: bandTooltip(band))
    }
    return out + "</g>\n"
  }

  /// The ledger's labels stacked bottom-up, each a polygon between its lower and upper edge.
  static func stackedAreas(_ timeline: Timeline) -> String {
    let scale = timeline.scale
    var out = "<g class=\"ledger\" fill-opacity=\"0.85\">\n"
    var below = [Double](repeating: 0, count: timeline.plotted.count)
    for label in timeline.labels {
      var above = below
      for (index, sample) in timeline.plotted.enumerated() {
        above[index] += Double(max(sample.ledgerByLabel[label] ?? 0, 0))
      }
      var upper: [(Double, Double)] = []
      var lower: [(Double, Double)] = []
      for (index, sample) in timeline.plotted.enumerated() {
        upper.append((scale.x(sample.seconds), scale.y(above[index])))
        lower.append((scale.x(sample.seconds), scale.y(below[index])))
      }
      out += "<polygon fill=\"\(timeline.colors[label] ?? "#999")\" points=\""
      out += points(upper + lower.reversed()) + "\"><title>\(escape(label))</title></polygon>\n"
      below = above
    }
    return out + "</g>\n"
  }

  /// RSS, RssAnon and RssFile, each over a white halo so it stays visible on the areas.
  static func kernelLines(_ timeline: Timeline) -> String {
    let lines: [(name: String, color: String, width: Double, value: (MemorySample) -> Int)] = [
      ("RssFile", fileColor, 1.6, \.rssFile), ("RssAnon", anonColor, 1.6, \.rssAnon), ("RSS", rssColor, 2.2, \.rss),
    ]
    var out = "<g class=\"kernel\" fill=\"none\" stroke-linejoin=\"round\">\n"
    for line in lines {
      let path = points(
        timeline.plotted.map { (timeline.scale.x($0.seconds), timeline.scale.y(Double(line.value($0)))) })
      out += "<polyline points=\"\(path)\" stroke=\"#ffffff\" stroke-opacity=\"0.8\" "
      out += "stroke-width=\"\(coordinate(line.width + 2.4))\" />\n"
      out += "<polyline class=\"\(line.name)\" points=\"\(path)\" stroke=\"\(line.color)\" "
      out += "stroke-width=\"\(coordinate(line.width))\"><title>\(line.name)</title></polyline>\n"
    }
    return out + "</g>\n"
  }

  /// Dashed lines at the budget (if any) and the planned peak. The higher line is labelled above, the lower one
  /// below when they are too close for both labels to sit above.
  static func referenceLines(_ timeline: Timeline) -> String {
    var lines: [(kind: String, text: String, color: String, dash: String, bytes: Int)] = []
    if let budget = timeline.budget {
      lines.append(("budget", "budget \(ByteCount.format(budget))", budgetColor, "9 5", budget))
    }
    if timeline.plannedPeak > 0 {
      let text = "planned peak \(ByteCount.format(timeline.plannedPeak))"
      lines.append(("planned", text, plannedColor, "4 4", timeline.plannedPeak))
    }
    let ys = lines.map { timeline.scale.y(Double($0.bytes)) }
    let crowded = ys.count == 2 && abs(ys[0] - ys[1]) < 18
    // SVG's y grows downwards: the larger y is the lower line (the planned one when they coincide).
    let lowerIndex = crowded ? (ys[0] > ys[1] ? 0 : 1) : -1
    var out = "<g class=\"reference\">\n"
    for (index, line) in lines.enumerated() {
      let y = ys[index]
      let below = index == lowerIndex
      out += "<line class=\"\(line.kind)\" x1=\"\(coordinate(TimelineScale.plotLeft))\" y1=\"\(coordinate(y))\" "
      out += "x2=\"\(coordinate(TimelineScale.plotRight))\" y2=\"\(coordinate(y))\" stroke=\"\(line.color)\" "
      out += "stroke-width=\"1.6\" stroke-dasharray=\"\(line.dash)\" />\n"
      let labelY = below ? y + 15 : max(y - 6, TimelineScale.plotTop + 12)
      out += text(
        escape(line.text), x: TimelineScale.plotRight - 6, y: labelY, anchor: "end",
        extra: "class=\"ref\" fill=\"\(line.color)\"")
    }
    return out + "</g>\n"
  }

  /// "x,y x,y ..." for a polyline or polygon.
  static func points(_ list: [(Double, Double)]) -> String {
    list.map { coordinate($0.0) + "," + coordinate($0.1) }.joined(separator: " ")
  }

  /// A coordinate with at most one decimal; never "nan" or "inf" (those become 0) and never absurdly long.
  static func coordinate(_ value: Double) -> String {
    TimelineScale.trimmed(decimal(value.isFinite ? min(max(value, -1e6), 1e6) : 0, places: 1))
  }

  static func rect(x: Double, y: Double, width: Double, height: Double, fill: String, tooltip: String) -> String {
    "<rect x=\"\(coordinate(x))\" y=\"\(coordinate(y))\" width=\"\(coordinate(width))\" "
      + "height=\"\(coordinate(height))\" fill=\"\(fill)\"><title>\(escape(tooltip))</title></rect>\n"
  }

  /// `content` must already be escaped.
  static func text(_ content: String, x: Double, y: Double, anchor: String, extra: String = "") -> String {
    "<text x=\"\(coordinate(x))\" y=\"\(coordinate(y))\" text-anchor=\"\(anchor)\""
      + (extra.isEmpty ? "" : " " + extra) + ">\(content)</text>\n"
  }

  static func bandTooltip(_ band: Timeline.PhaseRun) -> String {
    band.phases.joined(separator: ", ") + ": " + decimal(band.start, places: 2) + " to "
      + decimal(band.end, places: 2) + " s"
  }
}
