/// How the timeline maps seconds and bytes to SVG user units, and where its ticks go.
///
/// The SVG's viewBox is `width` × `height` and the page shows it at 1:1 on a 1200 px wide window, so 12-unit text is
/// 12 px text. Every coordinate written goes through `ProfileHTML.coordinate`, which never writes "nan" or "inf".
struct TimelineScale {
  static let width = 1120.0
  static let height = 470.0
  /// Room for byte tick labels ("1.125 GiB") on the left.
  static let plotLeft = 92.0
  static let plotRight = width - 18
  /// The phase ribbon sits above the plot, between `ribbonTop` and `plotTop - 4`.
  static let ribbonTop = 6.0
  static let plotTop = 34.0
  /// Room for seconds tick labels and the axis title below the plot.
  static let plotBottom = height - 46

  /// Seconds at the left and right edge (`end > start`).
  let start: Double
  let end: Double
  /// Bytes at the top edge, a whole number of `byteStep`s.
  let topBytes: Double
  /// Distance between byte ticks: a power of two, 4 to 8 ticks up the axis.
  let byteStep: Double

  /// A scale showing `start...end` seconds and 0 up to a little above `maxBytes`.
  init(start: Double, end: Double, maxBytes: Double) {
    self.start = start
    self.end = end > start ? end : start + 1
    // All-zero profiles still get an axis: 1 MiB tall.
    let wanted = maxBytes.isFinite && maxBytes > 0 ? maxBytes * 1.05 : 1024 * 1024
    var step = 1.0
    while step * 8 < wanted { step *= 2 }
    byteStep = step
    topBytes = (wanted / step).rounded(.up) * step
  }

  var plotWidth: Double { Self.plotRight - Self.plotLeft }
  var plotHeight: Double { Self.plotBottom - Self.plotTop }

  func x(_ seconds: Double) -> Double {
    Self.plotLeft + (seconds - start) / (end - start) * plotWidth
  }

  /// Negative byte counts are drawn at the axis.
  func y(_ bytes: Double) -> Double {
    Self.plotBottom - max(0, min(bytes, topBytes * 1.1)) / topBytes * plotHeight
  }

  /// Byte ticks from 0 up to `topBytes`.
  var byteTicks: [Double] {
    let count = Int((topBytes / byteStep).rounded())
    return (0...count).map { Double($0) * byteStep }
  }

  /// Time ticks at a 1-2-5 step (about ten of them), in minutes for runs longer than 20 minutes.
  var timeTicks: [(seconds: Double, label: String)] {
    let unit = end - start > 1200 ? 60.0 : 1.0
    let suffix = unit == 60 ? " min" : " s"
    let (step, places) = Self.niceStep((end - start) / unit / 10)
    var ticks: [(seconds: Double, label: String)] = []
    var index = (start / unit / step).rounded(.up)
    while index * step * unit <= end + 1e-9 * (end - start), ticks.count < 40 {
      let value = index * step
      ticks.append((value * unit, ProfileHTML.decimal(value, places: places) + suffix))
      index += 1
    }
    return ticks
  }

  /// The smallest of 1, 2, 5 × 10^k not below `raw`, and how many decimals its multiples need.
  static func niceStep(_ raw: Double) -> (step: Double, places: Int) {
    guard raw.isFinite, raw > 0 else { return (1, 0) }
    var magnitude = 1.0
    var places = 0
    while magnitude * 10 <= raw { magnitude *= 10 }
    while magnitude > raw, places < 12 {
      magnitude /= 10
      places += 1
    }
    for factor in [1.0, 2, 5] where factor * magnitude >= raw {
      return (factor * magnitude, places)
    }
    return (10 * magnitude, max(places - 1, 0))
  }

  /// A tick label for a power-of-two multiple: "64 MiB", "1.5 GiB", "512 B".
  static func byteLabel(_ bytes: Double) -> String {
    let units: [(name: String, size: Double)] = [
      ("TiB", 1_099_511_627_776), ("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024),
    ]
    for unit in units where bytes >= unit.size {
      return trimmed(ProfileHTML.decimal(bytes / unit.size, places: 3)) + " " + unit.name
    }
    return ProfileHTML.decimal(bytes, places: 0) + " B"
  }

  /// "1.500" → "1.5", "64.000" → "64".
  static func trimmed(_ text: String) -> String {
    guard text.contains(".") else { return text }
    var out = Substring(text)
    while out.last == "0" { out = out.dropLast() }
    if out.last == "." { out = out.dropLast() }
    return String(out)
  }
}
