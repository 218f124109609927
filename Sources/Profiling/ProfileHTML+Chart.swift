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
    let frame = timeline.scale.frame
    let size = "width=\"\(coordinate(frame.width))\" height=\"\(coordinate(frame.height))\""
    var out = "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "
    out += "\(coordinate(frame.width)) \(coordinate(frame.height))\" \(size) role=\"img\" "
    out += "aria-label=\"memory timeline\">\n<title>Memory over time</title>\n"
    out += phaseBands(timeline) + valueGrid(timeline.scale, title: "bytes", cssClass: "byte-axis")
    out += stackedAreas(timeline) + kernelLines(timeline)
    out += referenceLines(memoryReferences(budget: timeline.budget, plannedPeak: timeline.plannedPeak), timeline.scale)
    out += bottomAxis(timeline.scale, title: "time since start", cssClass: "time-axis") + phaseRibbon(timeline)
    return out + "</svg>\n"
  }

  /// Pale full-height bands, one per phase run (tiny runs merged), with the run as a tooltip.
  static func phaseBands(_ timeline: Timeline) -> String {
    var out = "<g class=\"phase-bands\" fill-opacity=\"0.75\">\n"
    for band in timeline.bands() where timeline.width(band) > 0 {
      let color = band.phases.count == 1 ? phaseColors(band.phases[0]).band : mixedPhaseColors.band
      out += rect(
        x: timeline.scale.x(band.start), y: timeline.scale.frame.plotTop, width: timeline.width(band),
        height: timeline.scale.frame.plotHeight, fill: color, tooltip: bandTooltip(band))
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

  static func bandTooltip(_ band: Timeline.PhaseRun) -> String {
    band.phases.joined(separator: ", ") + ": " + decimal(band.start, places: 2) + " to "
      + decimal(band.end, places: 2) + " s"
  }
}
