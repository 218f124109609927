import Memory

/// A chart's axes and its dashed reference lines (the budget, the planned peak, an average).
extension PageHTML {
  /// Horizontal grid lines at the value axis' ticks, labelled on the left ("64 MiB"), the lowest darker, and the
  /// axis title.
  static func valueGrid(_ scale: ChartScale, title: String, cssClass: String) -> String {
    let frame = scale.frame
    var out = "<g class=\"\(cssClass)\">\n"
    for tick in scale.yAxis.ticks {
      let y = scale.y(tick.value)
      out += "<line x1=\"\(coordinate(frame.plotLeft))\" y1=\"\(coordinate(y))\" "
      out += "x2=\"\(coordinate(frame.plotRight))\" y2=\"\(coordinate(y))\" "
      out += "stroke=\"\(tick.value == scale.yAxis.low ? "#6b7480" : "#dde1e6")\" stroke-width=\"1\" />\n"
      out += text(escape(tick.label), x: frame.plotLeft - 8, y: y + 4, anchor: "end")
    }
    let middle = (frame.plotTop + frame.plotBottom) / 2
    out += "<text class=\"axis-title\" x=\"16\" y=\"\(coordinate(middle))\" text-anchor=\"middle\" "
    out += "transform=\"rotate(-90 16 \(coordinate(middle)))\">\(escape(title))</text>\n"
    return out + "</g>\n"
  }

  /// The left edge, tick marks and labels along the bottom, and the axis title.
  static func bottomAxis(_ scale: ChartScale, title: String, cssClass: String) -> String {
    let frame = scale.frame
    var out = "<g class=\"\(cssClass)\">\n"
    out += "<line x1=\"\(coordinate(frame.plotLeft))\" y1=\"\(coordinate(frame.plotTop))\" "
    out += "x2=\"\(coordinate(frame.plotLeft))\" y2=\"\(coordinate(frame.plotBottom))\" "
    out += "stroke=\"#6b7480\" stroke-width=\"1\" />\n"
    for tick in scale.xAxis.ticks {
      let x = scale.x(tick.value)
      out += "<line x1=\"\(coordinate(x))\" y1=\"\(coordinate(frame.plotBottom))\" x2=\"\(coordinate(x))\" "
      out += "y2=\"\(coordinate(frame.plotBottom + 5))\" stroke=\"#6b7480\" stroke-width=\"1\" />\n"
      out += text(escape(tick.label), x: x, y: frame.plotBottom + 19, anchor: "middle")
    }
    let center = frame.plotLeft + frame.plotWidth / 2
    out += text(escape(title), x: center, y: frame.height - 8, anchor: "middle", extra: "class=\"axis-title\"")
    return out + "</g>\n"
  }

  /// The budget (when there is one) and the planned peak, as both pages draw them over memory.
  static func memoryReferences(budget: Int?, plannedPeak: Int) -> [ReferenceLine] {
    var lines: [ReferenceLine] = []
    if let budget {
      lines.append(
        .init(
          kind: "budget", name: "budget", valueText: ByteCount.format(budget), value: Double(budget),
          color: budgetColor, dash: "9 5", legendStyle: "dashed"))
    }
    if plannedPeak > 0 {
      lines.append(
        .init(
          kind: "planned", name: "planned peak", valueText: ByteCount.format(plannedPeak), value: Double(plannedPeak),
          color: plannedColor, dash: "4 4", legendStyle: "dotted"))
    }
    return lines
  }

  /// Dashed lines across the plot, each labelled at the right. The higher of two is labelled above, the lower one
  /// below when they are too close for both labels to sit above.
  static func referenceLines(_ lines: [ReferenceLine], _ scale: ChartScale) -> String {
    let frame = scale.frame
    let ys = lines.map { scale.y($0.value) }
    let crowded = ys.count == 2 && abs(ys[0] - ys[1]) < 18
    // SVG's y grows downwards: the larger y is the lower line (the second one when they coincide).
    let lowerIndex = crowded ? (ys[0] > ys[1] ? 0 : 1) : -1
    var out = "<g class=\"reference\">\n"
    for (index, line) in lines.enumerated() {
      let y = ys[index]
      let below = index == lowerIndex
      out += "<line class=\"\(line.kind)\" x1=\"\(coordinate(frame.plotLeft))\" y1=\"\(coordinate(y))\" "
      out += "x2=\"\(coordinate(frame.plotRight))\" y2=\"\(coordinate(y))\" stroke=\"\(line.color)\" "
      out += "stroke-width=\"1.6\" stroke-dasharray=\"\(line.dash)\" />\n"
      let labelY = below ? y + 15 : max(y - 6, frame.plotTop + 12)
      out += text(
        escape(line.name + " " + line.valueText), x: frame.plotRight - 6, y: labelY, anchor: "end",
        extra: "class=\"ref\" fill=\"\(line.color)\"")
    }
    return out + "</g>\n"
  }

  /// A reference line's entry in the legend: "budget (192.0 MiB)".
  static func legendLine(_ line: ReferenceLine) -> String {
    legendLine("\(line.name) (\(line.valueText))", color: line.color, style: line.legendStyle, width: 2)
  }
}

/// A dashed horizontal line at a value, labelled "name value" at the right of the plot.
struct ReferenceLine {
  /// The line's CSS class ("budget", "planned").
  var kind: String
  var name: String
  var valueText: String
  var value: Double
  var color: String
  /// SVG's stroke-dasharray, and the CSS border style that draws it in the legend.
  var dash: String
  var legendStyle: String
}
