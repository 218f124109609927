/// A name read from an untrusted file (a tensor name, a metadata key), made safe to print in one line: control
/// characters, quotes and backslashes escaped as Swift would write them, and cut to `limit` characters with "…".
public func displayName(_ name: String, limit: Int = 80) -> String {
  escapedForDisplay(name, limit: limit) { $0 == "'" || $0 == "\\" }
}

/// A message that may quote file content (an error's description), made safe to print: control characters but
/// newlines escaped, each line cut to `lineLimit` characters with "…". Messages quote names through `displayName`;
/// this is the net under them, so that no path to the terminal prints raw binary (NUL, ESC) or megabytes of it.
public func displayText(_ text: String, lineLimit: Int = 1000) -> String {
  text.split(separator: "\n", omittingEmptySubsequences: false)
    .map { escapedForDisplay(String($0), limit: lineLimit) { _ in false } }
    .joined(separator: "\n")
}

/// `text` with control characters (C0, DEL, C1) and the scalars `alsoEscaped` picks escaped as Swift writes them,
/// cut after `limit` scalars with "…".
func escapedForDisplay(_ text: String, limit: Int, alsoEscaped: (Unicode.Scalar) -> Bool) -> String {
  var out = ""
  var count = 0
  for scalar in text.unicodeScalars {
    if count >= limit {
      out += "…"
      break
    }
    let control = scalar.value < 0x20 || scalar.value == 0x7f || (0x80...0x9f).contains(scalar.value)
    out += control || alsoEscaped(scalar) ? scalar.escaped(asASCII: false) : String(scalar)
    count += 1
  }
  return out
}
