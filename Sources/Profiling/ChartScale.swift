/// The box a chart is drawn in, in SVG user units.
///
/// Pages show a chart's viewBox at 1:1 on a 1200 px wide window, so 12-unit text is 12 px text. Every coordinate
/// written goes through `PageHTML.coordinate`, which never writes "nan" or "inf".
struct ChartFrame {
  let width: Double
  let height: Double
  /// Room for value tick labels ("1.125 GiB") on the left.
  let plotLeft: Double
  let plotRight: Double
  let plotTop: Double
  /// Room for tick labels and the axis title below the plot.
  let plotBottom: Double

  var plotWidth: Double { plotRight - plotLeft }
  var plotHeight: Double { plotBottom - plotTop }

  /// The memory timeline: 34 units above the plot hold the phase ribbon.
  static let timeline = ChartFrame(
    width: 1120, height: 470, plotLeft: 92, plotRight: 1120 - 18, plotTop: 34, plotBottom: 470 - 46)
  /// A run page's chart: lower than the timeline, so that five of them read as one page.
  static let run = ChartFrame(
    width: 1120, height: 300, plotLeft: 92, plotRight: 1120 - 18, plotTop: 14, plotBottom: 300 - 46)
}

/// Where a chart puts a point: a frame and the two axes that map values into it.
struct ChartScale {
  let frame: ChartFrame
  let xAxis: ChartAxis
  let yAxis: ChartAxis

  func x(_ value: Double) -> Double {
    frame.plotLeft + (value - xAxis.low) / (xAxis.high - xAxis.low) * frame.plotWidth
  }

  /// Values below the axis are drawn at its bottom, values far above it a tenth of its span above the top.
  func y(_ value: Double) -> Double {
    let span = yAxis.high - yAxis.low
    let clamped = max(yAxis.low, min(value, yAxis.low + span * 1.1))
    return frame.plotBottom - (clamped - yAxis.low) / span * frame.plotHeight
  }
}
