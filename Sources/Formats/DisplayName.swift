/// A name read from an untrusted file (a tensor name, a metadata key), made safe to print in one line: control
/// characters, quotes and backslashes escaped as Swift would write them, and cut to `limit` characters with "…".
public func displayName(_ name: String, limit: Int = 80) -> String {
  var text = ""
  var count = 0
  for scalar in name.unicodeScalars {
    if count >= limit {
      text += "…"
      break
    }
    let printable = scalar.value >= 0x20 && scalar.value != 0x7f && !(0x80...0x9f).contains(scalar.value)
    text += printable && scalar != "'" && scalar != "\\" ? String(scalar) : scalar.escaped(asASCII: false)
    count += 1
  }
  return text
}
