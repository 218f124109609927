/// Human byte sizes both ways: "512MiB", "1.5GB", "300k" to bytes, and bytes to "12.3 MiB".
public enum ByteCount {
  /// Parses a size with an optional unit: B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB (case-insensitive).
  /// Decimal units (KB, MB, GB) are powers of 1000, binary ones (KiB, MiB, GiB) and bare letters powers of 1024.
  public static func parse(_ text: String) -> Int? {
    let trimmed = text.trimmingCharacters(in: " \t")
    var numberEnd = trimmed.startIndex
    while numberEnd < trimmed.endIndex, trimmed[numberEnd].isNumber || trimmed[numberEnd] == "." {
      numberEnd = trimmed.index(after: numberEnd)
    }
    guard let number = Double(trimmed[..<numberEnd]), number >= 0, number.isFinite else { return nil }
    let unit = trimmed[numberEnd...].trimmingCharacters(in: " \t").lowercased()
    let multiplier: Double
    switch unit {
    case "", "b": multiplier = 1
    case "k", "kib": multiplier = 1024
    case "kb": multiplier = 1000
    case "m", "mib": multiplier = 1024 * 1024
    case "mb": multiplier = 1_000_000
    case "g", "gib": multiplier = 1024 * 1024 * 1024
    case "gb": multiplier = 1_000_000_000
    case "t", "tib": multiplier = 1024 * 1024 * 1024 * 1024
    case "tb": multiplier = 1_000_000_000_000
    default: return nil
    }
    let bytes = (number * multiplier).rounded()
    guard bytes < Double(Int.max) else { return nil }
    return Int(bytes)
  }

  /// "512 B", "3.4 KiB", "12.3 MiB", "1.50 GiB".
  public static func format(_ bytes: Int) -> String {
    let value = Double(bytes)
    if abs(value) < 1024 { return "\(bytes) B" }
    // The unit is chosen on the rounded figure, so 1 MiB - 1 B reads "1.0 MiB", not "1024.0 KiB".
    if abs((value / 1024 * 10).rounded()) < 1024 * 10 { return oneDecimal(value / 1024) + " KiB" }
    if abs((value / (1024 * 1024) * 10).rounded()) < 1024 * 10 { return oneDecimal(value / (1024 * 1024)) + " MiB" }
    return twoDecimals(value / (1024 * 1024 * 1024)) + " GiB"
  }

  static func oneDecimal(_ x: Double) -> String {
    let tenths = Int((x * 10).rounded())
    return "\(tenths / 10).\(abs(tenths % 10))"
  }

  static func twoDecimals(_ x: Double) -> String {
    let hundredths = Int((x * 100).rounded())
    let fraction = abs(hundredths % 100)
    return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: String) -> String {
    var slice = Substring(self)
    while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
    while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
    return String(slice)
  }
}

extension Substring {
  fileprivate func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}
