/// The SVG elements charts are drawn with. Coordinates are written with at most one decimal and never as "nan".
extension PageHTML {
  /// "x,y x,y ..." for a polyline or polygon.
  static func points(_ list: [(Double, Double)]) -> String {
    list.map { coordinate($0.0) + "," + coordinate($0.1) }.joined(separator: " ")
  }

  /// A coordinate with at most one decimal; never "nan" or "inf" (those become 0) and never absurdly long.
  static func coordinate(_ value: Double) -> String {
    trimmed(decimal(value.isFinite ? min(max(value, -1e6), 1e6) : 0, places: 1))
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

  /// A line of the legend under a chart: a short stroke drawn as the chart draws the line, and its name.
  static func legendLine(_ name: String, color: String, style: String, width: Int) -> String {
    "<li><span class=\"stroke\" style=\"border-top:\(width)px \(style) \(color)\"></span>\(escape(name))</li>\n"
  }
}
