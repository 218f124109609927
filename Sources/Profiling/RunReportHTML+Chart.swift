import Memory

/// A chart of per-step figures as inline SVG: the value grid, each series as a line (and dots where asked), the
/// reference lines, the step axis, and an HTML legend below (HTML so it wraps instead of overlapping the plot).
extension RunReportHTML {
  /// Most points drawn per curve, as for the memory timeline: two per pixel column is all a screen can show.
  static let maxPoints = 2000
  /// Most dots drawn per curve; past that the line alone says more.
  static let maxMarkers = 400

  /// The chart's section; a sentence instead of the chart when no series has a finite point.
  static func chartSection(_ chart: RunReportDocument.Chart) -> String {
    var out = "<section id=\"\(escape(chart.id))\" class=\"chart\">\n<h2>\(escape(chart.title))</h2>\n"
    let series = chart.series.map { series in
      var finite = series
      finite.points = series.points.filter { $0.x.isFinite && $0.y.isFinite }
      return finite
    }
    let points = series.flatMap(\.points)
    guard !points.isEmpty else { return out + "<p class=\"empty\">\(escape(chart.empty))</p>\n</section>\n" }
    let plotted = series.map { series in
      Thinning.indices(
        count: series.points.count, maxPoints: maxPoints,
        peaks: [{ series.points[$0].y }, { -series.points[$0].y }]
      ).map { series.points[$0] }
    }
    var caption = chart.caption
    if zip(series, plotted).contains(where: { $0.points.count > $1.count }) {
      caption += " Long curves are drawn from \(maxPoints) of their points, keeping each stretch's highest and lowest."
    }
    if !caption.isEmpty { out += "<p class=\"caption\">\(escape(caption))</p>\n" }
    let references = referenceLines(chart)
    let scale = scale(chart.unit, points: points, references: references)
    out += chartSVG(chart, series: series, plotted: plotted, references: references, scale)
    out += "<ul class=\"legend\" id=\"legend-\(escape(chart.id))\">\n"
    for (index, line) in series.enumerated() {
      out += legendLine(line.name, color: palette[index % palette.count], style: "solid", width: 2)
    }
    for line in references { out += legendLine(line) }
    return out + "</ul>\n</section>\n"
  }

  /// The value grid, each series (its colour the palette's, in order), the reference lines and the step axis.
  static func chartSVG(
    _ chart: RunReportDocument.Chart, series: [RunReportDocument.Series], plotted: [[RunReportDocument.Point]],
    references: [ReferenceLine], _ scale: ChartScale
  ) -> String {
    let frame = scale.frame
    var out = "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(coordinate(frame.width)) "
    out += "\(coordinate(frame.height))\" width=\"\(coordinate(frame.width))\" height=\"\(coordinate(frame.height))\" "
    out += "role=\"img\" aria-label=\"\(escape(chart.title))\">\n<title>\(escape(chart.title))</title>\n"
    out += valueGrid(scale, title: chart.valueTitle, cssClass: "value-axis")
    for (index, (line, drawn)) in zip(series, plotted).enumerated() {
      out += curve(line, plotted: drawn, color: palette[index % palette.count], unit: chart.unit, scale)
    }
    out += referenceLines(references, scale) + bottomAxis(scale, title: "step", cssClass: "step-axis")
    return out + "</svg>\n"
  }

  /// Steps from 0 to the last one along the bottom; bytes from 0, or numbers from the lowest to the highest value
  /// (reference lines included, so they stay inside the plot).
  static func scale(
    _ unit: RunReportDocument.Unit, points: [RunReportDocument.Point], references: [ReferenceLine]
  ) -> ChartScale {
    let values = points.map(\.y) + references.map(\.value)
    let lowest = values.min() ?? 0
    let highest = values.max() ?? 0
    let xAxis = ChartAxis.steps(to: points.map(\.x).max() ?? 1)
    switch unit {
    case .bytes: return ChartScale(frame: .run, xAxis: xAxis, yAxis: .bytes(upTo: highest))
    case .number: return ChartScale(frame: .run, xAxis: xAxis, yAxis: .values(from: lowest, to: highest))
    }
  }

  /// One series: a line through its points, and a dot at each where asked (or when it has only one point, which a
  /// line cannot show). Every dot's tooltip gives its step and value.
  static func curve(
    _ series: RunReportDocument.Series, plotted: [RunReportDocument.Point], color: String,
    unit: RunReportDocument.Unit, _ scale: ChartScale
  ) -> String {
    var out = "<g class=\"series\">\n"
    if plotted.count >= 2 {
      let path = points(plotted.map { (scale.x($0.x), scale.y($0.y)) })
      out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" "
      out += "stroke-linejoin=\"round\"><title>\(escape(series.name))</title></polyline>\n"
    }
    if (series.markers && plotted.count <= maxMarkers) || plotted.count == 1 {
      for point in plotted {
        out += "<circle cx=\"\(coordinate(scale.x(point.x)))\" cy=\"\(coordinate(scale.y(point.y)))\" r=\"3.5\" "
        out += "fill=\"\(color)\"><title>\(escape(series.name)), step \(decimal(point.x, places: 0)): "
        out += "\(escape(valueText(point.y, unit)))</title></circle>\n"
      }
    }
    return out + "</g>\n"
  }

  /// The chart's references as the memory timeline draws them: the budget and planned peak dashed, a mean dotted.
  static func referenceLines(_ chart: RunReportDocument.Chart) -> [ReferenceLine] {
    // Byte counts become Int again; a value no Int can hold is no byte count and is left out.
    let references = chart.references.filter { $0.value.isFinite && abs($0.value) < 1e18 }
    let budget = references.first { $0.role == .budget }.map { Int($0.value) }
    let planned = references.first { $0.role == .plannedPeak }.map { Int($0.value) } ?? 0
    var lines = memoryReferences(budget: budget, plannedPeak: planned)
    for mean in references where mean.role == .mean {
      lines.append(
        .init(
          kind: "mean", name: "mean", valueText: valueText(mean.value, chart.unit), value: mean.value,
          color: "#555555", dash: "2 3", legendStyle: "dotted"))
    }
    return lines
  }

  static func valueText(_ value: Double, _ unit: RunReportDocument.Unit) -> String {
    switch unit {
    case .bytes: return value.isFinite && abs(value) < 1e18 ? ByteCount.format(Int(value)) : "0 B"
    case .number: return significant(value)
    }
  }
}
