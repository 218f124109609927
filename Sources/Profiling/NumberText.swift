/// Numbers as the pages print them. Free functions because the pages, the axes and their tick labels all need them.

/// `x` with a fixed number of decimals ("12.5"); "0" for NaN or infinity, so no "nan" reaches a page.
func decimal(_ x: Double, places: Int) -> String {
  guard x.isFinite else { return "0" }
  var scale = 1.0
  for _ in 0..<places { scale *= 10 }
  // Beyond 1e15 the scaled value no longer fits an Int exactly; nothing on these pages is that large.
  let scaled = min(max((abs(x) * scale).rounded(), 0), 1e15)
  let units = Int(scaled)
  let factor = Int(scale)
  let sign = x < 0 && units != 0 ? "-" : ""
  guard places > 0 else { return sign + "\(units)" }
  let fraction = String(units % factor)
  let padding = String(repeating: "0", count: places - fraction.count)
  return sign + "\(units / factor)." + padding + fraction
}

/// "1.500" → "1.5", "64.000" → "64".
func trimmed(_ text: String) -> String {
  guard text.contains(".") else { return text }
  var out = Substring(text)
  while out.last == "0" { out = out.dropLast() }
  if out.last == "." { out = out.dropLast() }
  return String(out)
}

/// `x` to about four significant digits, for figures of any size: "4123", "412.3", "2.346", "0.0312", "2.00e-4";
/// "0" for zero, NaN or infinity.
func significant(_ x: Double) -> String {
  guard x.isFinite, x != 0 else { return "0" }
  var exponent = 0
  var scale = 1.0
  // The tolerance keeps 1e-4 from counting as 0.99999...e-4 after the multiplications.
  while abs(x) * scale < 0.999_999, exponent > -30 {
    scale *= 10
    exponent -= 1
  }
  if exponent <= -4 { return decimal(x * scale, places: 2) + "e\(exponent)" }
  var places = 3 - exponent
  var bound = 10.0
  while abs(x) >= bound, places > 0 {
    bound *= 10
    places -= 1
  }
  return decimal(x, places: places)
}
