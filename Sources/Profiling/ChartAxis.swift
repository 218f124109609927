/// One axis of a chart: the values at its two ends (`high > low`) and the labelled ticks from one to the other.
struct ChartAxis {
  struct Tick: Equatable {
    var value: Double
    var label: String
  }

  let low: Double
  let high: Double
  let ticks: [Tick]

  /// Bytes from 0 to a little above `maximum`, ticks at a power of two (4 to 8 of them) labelled "64 MiB".
  static func bytes(upTo maximum: Double) -> ChartAxis {
    // All-zero figures still get an axis: 1 MiB tall.
    let wanted = maximum.isFinite && maximum > 0 ? maximum * 1.05 : 1024 * 1024
    var step = 1.0
    while step * 8 < wanted { step *= 2 }
    let top = (wanted / step).rounded(.up) * step
    let count = Int((top / step).rounded())
    return ChartAxis(
      low: 0, high: top, ticks: (0...count).map { Double($0) * step }.map { .init(value: $0, label: byteLabel($0)) })
  }

  /// Seconds from `start` to `end`, ticks at a 1-2-5 step (about ten of them), in minutes for spans over 20 minutes.
  static func time(from start: Double, to end: Double) -> ChartAxis {
    let end = end > start ? end : start + 1
    let unit = end - start > 1200 ? 60.0 : 1.0
    let suffix = unit == 60 ? " min" : " s"
    let (step, places) = niceStep((end - start) / unit / 10)
    var ticks: [Tick] = []
    var index = (start / unit / step).rounded(.up)
    while index * step * unit <= end + 1e-9 * (end - start), ticks.count < 40 {
      let value = index * step
      ticks.append(.init(value: value * unit, label: decimal(value, places: places) + suffix))
      index += 1
    }
    return ChartAxis(low: start, high: end, ticks: ticks)
  }

  /// Optimizer steps from 0 to `last` (at least 1), whole-number ticks at a 1-2-5 step (about ten of them).
  static func steps(to last: Double) -> ChartAxis {
    let high = last.isFinite && last > 1 ? last : 1
    let step = max(niceStep(high / 10).step, 1)
    let count = Int((high / step).rounded(.down))
    return ChartAxis(
      low: 0, high: high,
      ticks: (0...count).map { Double($0) * step }.map { .init(value: $0, label: decimal($0, places: 0)) })
  }

  /// From `minimum` to `maximum` widened to whole ticks at a 1-2-5 step (about five of them); a single value gets a
  /// span around it.
  static func values(from minimum: Double, to maximum: Double) -> ChartAxis {
    var (minimum, maximum) = minimum.isFinite && maximum.isFinite ? (minimum, maximum) : (0, 1)
    if maximum <= minimum {
      let pad = minimum == 0 ? 1 : abs(minimum) * 0.1
      (minimum, maximum) = (minimum - pad, maximum + pad)
    }
    let (step, places) = niceStep((maximum - minimum) / 5)
    let low = (minimum / step).rounded(.down) * step
    let high = max((maximum / step).rounded(.up) * step, low + step)
    let values = (0...Int(((high - low) / step).rounded())).map { low + Double($0) * step }
    let labels = valueLabels(values, places: places)
    return ChartAxis(low: low, high: high, ticks: zip(values, labels).map { .init(value: $0, label: $1) })
  }

  /// Labels with `places` decimals; when every value is below 0.001 (learning rates), as multiples of one power of
  /// ten ("0.5e-4", "1.0e-4"), which read at a glance where "0.00010" does not.
  static func valueLabels(_ values: [Double], places: Int) -> [String] {
    let largest = values.map(abs).max() ?? 0
    var exponent = 0
    var scale = 1.0
    // The tolerance keeps 1e-4 from counting as 0.99999...e-4 after the multiplications.
    while largest > 0, largest * scale < 0.999_999, exponent > -30 {
      scale *= 10
      exponent -= 1
    }
    guard exponent <= -4 else { return values.map { decimal($0, places: places) } }
    return values.map { $0 == 0 ? "0" : decimal($0 * scale, places: max(places + exponent, 0)) + "e\(exponent)" }
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
      return trimmed(decimal(bytes / unit.size, places: 3)) + " " + unit.name
    }
    return decimal(bytes, places: 0) + " B"
  }
}
