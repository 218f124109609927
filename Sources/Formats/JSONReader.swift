/// Why a text is not JSON: the byte offset where reading stopped and what was expected there.
package struct JSONSyntaxError: Error, Equatable {
  package var offset: Int
  package var message: String
}

/// A pull reader over JSON text (RFC 8259) that hands out one value at a time, so that a caller can walk a large
/// document (tokenizer.json's vocabulary and merges, a safetensors header whose metadata holds a whole tokenizer.json)
/// straight into its own tables, skipping or materializing (`JSONValue`) only the parts it wants. It never builds a
/// tree of the whole document. It does not check UTF-8: callers run `firstInvalidUTF8` over the text first.
///
/// The text must stay alive while the reader is used: it borrows it as a buffer, because the hot walk over
/// ~100,000 strings cannot afford an Array's bounds checks and copy-on-write checks on every byte.
/// Nesting deeper than `maximumDepth` is refused (an error, not a stack overflow), as serde_json does at 128.
/// ref: RFC 8259 §§2–7; huggingface/tokenizers reads tokenizer.json with serde_json.
package struct JSONReader {
  package static let maximumDepth = 128

  /// What the next value is, judged from its first byte.
  package enum Kind { case object, array, string, number, bool, null }

  package let text: UnsafeBufferPointer<UInt8>
  package var position: Int
  /// Where the key `nextMember` read last starts (its opening quote), so that a walk can come back to it.
  package var keyOffset = 0

  package init(_ text: UnsafeBufferPointer<UInt8>, at position: Int = 0) {
    self.text = text
    self.position = position
  }

  package func fail(_ message: String) -> JSONSyntaxError {
    JSONSyntaxError(offset: position, message: message)
  }

  /// Checks that the whole text is one JSON object or array (a UTF-8 byte order mark may precede it), so that a
  /// later walk meets no syntax error and a malformed file is reported as such before any of its content is judged.
  package static func validate(_ text: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) {
    var reader = JSONReader(text, at: startOffset(text))
    // JSONSerialization without `.fragmentsAllowed` refuses a bare scalar at top level; so do we.
    guard let kind = reader.peek(), kind == .object || kind == .array else {
      throw reader.fail("expected an object or an array")
    }
    try reader.skipValue(depth: 0)
    reader.skipSpace()
    guard reader.position == text.count else { throw reader.fail("unexpected text after the top-level value") }
  }

  /// Where the top-level value may start: after a UTF-8 byte order mark, if any.
  package static func startOffset(_ text: UnsafeBufferPointer<UInt8>) -> Int {
    text.count >= 3 && text[0] == 0xEF && text[1] == 0xBB && text[2] == 0xBF ? 3 : 0
  }

  package mutating func skipSpace() {
    while position < text.count {
      switch text[position] {
      case 0x20, 0x09, 0x0A, 0x0D: position += 1
      default: return
      }
    }
  }

  /// The kind of the next value (after skipping whitespace), nil at the end or before a byte no value starts with.
  package mutating func peek() -> Kind? {
    skipSpace()
    guard position < text.count else { return nil }
    switch text[position] {
    case UInt8(ascii: "{"): return .object
    case UInt8(ascii: "["): return .array
    case UInt8(ascii: "\""): return .string
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
    case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
    case UInt8(ascii: "n"): return .null
    default: return nil
    }
  }

  mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxError) {
    skipSpace()
    guard position < text.count, text[position] == byte else { throw fail("expected \(what)") }
    position += 1
  }

  // MARK: containers, pulled one member or element at a time

  /// Consumes `{`.
  package mutating func beginObject() throws(JSONSyntaxError) { try expect(UInt8(ascii: "{"), "\"{\"") }

  /// Reads the next member's key into `key` (cleared first) and its `:`, leaving the reader at the value, which the
  /// caller must consume; false after the closing `}`. `count` is the number of members read so far (start at 0).
  package mutating func nextMember(_ count: inout Int, key: inout [UInt8]) throws(JSONSyntaxError) -> Bool {
    skipSpace()
    guard position < text.count else { throw fail("unterminated object") }
    if text[position] == UInt8(ascii: "}") {
      position += 1
      return false
    }
    if count > 0 { try expect(UInt8(ascii: ","), "\",\" or \"}\"") }
    skipSpace()
    guard position < text.count, text[position] == UInt8(ascii: "\"") else { throw fail("expected a key string") }
    key.removeAll(keepingCapacity: true)
    keyOffset = position
    try readString(into: &key)
    try expect(UInt8(ascii: ":"), "\":\"")
    count += 1
    return true
  }

  /// Consumes `[`.
  package mutating func beginArray() throws(JSONSyntaxError) { try expect(UInt8(ascii: "["), "\"[\"") }

  /// Leaves the reader at the next element, which the caller must consume; false after the closing `]`.
  package mutating func nextElement(_ count: inout Int) throws(JSONSyntaxError) -> Bool {
    skipSpace()
    guard position < text.count else { throw fail("unterminated array") }
    if text[position] == UInt8(ascii: "]") {
      position += 1
      return false
    }
    if count > 0 { try expect(UInt8(ascii: ","), "\",\" or \"]\"") }
    count += 1
    return true
  }

  // MARK: scalars

  /// Reads a string value as a `String`; the reader must be at its opening quote. The bytes are gathered in an array
  /// reserved at the escaped length (an upper bound of the decoded one), so a large value (the tokenizer.json in an
  /// .nf4 header) is not regrown and copied on the way.
  package mutating func readString() throws(JSONSyntaxError) -> String {
    skipSpace()
    let start = position
    try skipString()
    let escapedCount = position - start
    position = start
    var bytes: [UInt8] = []
    bytes.reserveCapacity(escapedCount)
    try readString(into: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Appends the string's UTF-8, escapes resolved, to `output`; the reader must be at its opening quote.
  /// Lone or reversed UTF-16 surrogates in `\u` escapes are errors, as in JSONSerialization.
  package mutating func readString(into output: inout [UInt8]) throws(JSONSyntaxError) {
    try scanString(into: &output, keep: true)
  }

  package mutating func skipString() throws(JSONSyntaxError) {
    var none: [UInt8] = []
    try scanString(into: &none, keep: false)
  }

  private mutating func scanString(into output: inout [UInt8], keep: Bool) throws(JSONSyntaxError) {
    try expect(UInt8(ascii: "\""), "a string")
    while true {
      let runStart = position
      while position < text.count {
        let byte = text[position]
        if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
        position += 1
      }
      if keep && position > runStart {
        output.append(contentsOf: UnsafeBufferPointer(rebasing: text[runStart..<position]))
      }
      guard position < text.count else { throw fail("unterminated string") }
      switch text[position] {
      case UInt8(ascii: "\""):
        position += 1
        return
      case UInt8(ascii: "\\"):
        let scalar = try readEscape()
        if keep { Self.appendUTF8(scalar, to: &output) }
      default:
        throw fail("control character in a string (must be escaped)")
      }
    }
  }

  /// Reads one escape sequence at `\`, joining a surrogate pair into one scalar.
  private mutating func readEscape() throws(JSONSyntaxError) -> UInt32 {
    position += 1
    guard position < text.count else { throw fail("unterminated escape") }
    let letter = text[position]
    position += 1
    switch letter {
    case UInt8(ascii: "\""): return 0x22
    case UInt8(ascii: "\\"): return 0x5C
    case UInt8(ascii: "/"): return 0x2F
    case UInt8(ascii: "b"): return 0x08
    case UInt8(ascii: "f"): return 0x0C
    case UInt8(ascii: "n"): return 0x0A
    case UInt8(ascii: "r"): return 0x0D
    case UInt8(ascii: "t"): return 0x09
    case UInt8(ascii: "u"):
      let first = try readHex4()
      switch first {
      case 0xD800...0xDBFF:
        guard position + 1 < text.count, text[position] == UInt8(ascii: "\\"), text[position + 1] == UInt8(ascii: "u")
        else { throw fail("high surrogate \\u\(String(first, radix: 16)) without a low surrogate") }
        position += 2
        let second = try readHex4()
        guard (0xDC00...0xDFFF).contains(second) else {
          throw fail("high surrogate \\u\(String(first, radix: 16)) followed by \\u\(String(second, radix: 16))")
        }
        return 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
      case 0xDC00...0xDFFF:
        throw fail("low surrogate \\u\(String(first, radix: 16)) without a high surrogate")
      default:
        return first
      }
    default:
      position -= 1
      throw fail("unknown escape")
    }
  }

  private mutating func readHex4() throws(JSONSyntaxError) -> UInt32 {
    guard position + 4 <= text.count else { throw fail("truncated \\u escape") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let byte = text[position]
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw fail("\\u needs four hexadecimal digits")
      }
      value = value << 4 | UInt32(digit)
      position += 1
    }
    return value
  }

  /// UTF-8 of a Unicode scalar value (never a surrogate: `readEscape` refuses those).
  static func appendUTF8(_ scalar: UInt32, to output: inout [UInt8]) {
    switch scalar {
    case 0..<0x80:
      output.append(UInt8(scalar))
    case 0x80..<0x800:
      output.append(UInt8(0xC0 | scalar >> 6))
      output.append(UInt8(0x80 | scalar & 0x3F))
    case 0x800..<0x10000:
      output.append(UInt8(0xE0 | scalar >> 12))
      output.append(UInt8(0x80 | scalar >> 6 & 0x3F))
      output.append(UInt8(0x80 | scalar & 0x3F))
    default:
      output.append(UInt8(0xF0 | scalar >> 18))
      output.append(UInt8(0x80 | scalar >> 12 & 0x3F))
      output.append(UInt8(0x80 | scalar >> 6 & 0x3F))
      output.append(UInt8(0x80 | scalar & 0x3F))
    }
  }

  /// Reads a number by the RFC 8259 grammar (no leading zeros, `+`, `.5`, `1.`, NaN or Infinity).
  package mutating func readNumber() throws(JSONSyntaxError) -> Double {
    skipSpace()
    let start = position
    func digits(_ reader: inout JSONReader) -> Int {
      let first = reader.position
      while reader.position < reader.text.count, (0x30...0x39).contains(reader.text[reader.position]) {
        reader.position += 1
      }
      return reader.position - first
    }
    if position < text.count, text[position] == UInt8(ascii: "-") { position += 1 }
    let integerStart = position
    let integerDigits = digits(&self)
    guard integerDigits > 0 else { throw fail("expected a digit") }
    guard integerDigits == 1 || text[integerStart] != UInt8(ascii: "0") else {
      position = integerStart
      throw fail("a number cannot start with 0")
    }
    var integral = true
    if position < text.count, text[position] == UInt8(ascii: ".") {
      position += 1
      guard digits(&self) > 0 else { throw fail("expected a digit after \".\"") }
      integral = false
    }
    if position < text.count, text[position] | 0x20 == UInt8(ascii: "e") {
      position += 1
      if position < text.count, text[position] == UInt8(ascii: "+") || text[position] == UInt8(ascii: "-") {
        position += 1
      }
      guard digits(&self) > 0 else { throw fail("expected a digit in the exponent") }
      integral = false
    }
    let literal = UnsafeBufferPointer(rebasing: text[start..<position])
    // Integers (every token id) are summed exactly; the rest go through the standard library's parser.
    if integral && integerDigits <= 15 {
      var value = 0
      for byte in literal where byte != UInt8(ascii: "-") { value = value * 10 + Int(byte - 0x30) }
      return literal[0] == UInt8(ascii: "-") ? -Double(value) : Double(value)
    }
    guard let value = Double(String(decoding: literal, as: UTF8.self)) else { throw fail("unreadable number") }
    return value
  }

  /// Reads `true` or `false`.
  package mutating func readBool() throws(JSONSyntaxError) -> Bool {
    if try readWord("true") { return true }
    if try readWord("false") { return false }
    throw fail("expected true or false")
  }

  package mutating func readNull() throws(JSONSyntaxError) {
    guard try readWord("null") else { throw fail("expected null") }
  }

  private mutating func readWord(_ word: StaticString) throws(JSONSyntaxError) -> Bool {
    skipSpace()
    let count = word.utf8CodeUnitCount
    guard position + count <= text.count else { return false }
    let bytes = UnsafeBufferPointer(start: word.utf8Start, count: count)
    for k in 0..<count where text[position + k] != bytes[k] { return false }
    position += count
    return true
  }

  // MARK: whole values

  /// Consumes one value of any kind, checking its syntax; `depth` is the nesting of the containers around it.
  package mutating func skipValue(depth: Int) throws(JSONSyntaxError) {
    switch peek() {
    case .object:
      guard depth < Self.maximumDepth else { throw fail("nested deeper than \(Self.maximumDepth) levels") }
      try beginObject()
      var count = 0
      var key: [UInt8] = []
      while try nextMember(&count, key: &key) { try skipValue(depth: depth + 1) }
    case .array:
      guard depth < Self.maximumDepth else { throw fail("nested deeper than \(Self.maximumDepth) levels") }
      try beginArray()
      var count = 0
      while try nextElement(&count) { try skipValue(depth: depth + 1) }
    case .string: try skipString()
    case .number: _ = try readNumber()
    case .bool: _ = try readBool()
    case .null: try readNull()
    case nil: throw fail(position < text.count ? "expected a value" : "unexpected end of text")
    }
  }

  /// Reads one value into a `JSONValue`: for the small parts of a document.
  package mutating func readValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    switch peek() {
    case .object:
      guard depth < Self.maximumDepth else { throw fail("nested deeper than \(Self.maximumDepth) levels") }
      try beginObject()
      var members: [String: JSONValue] = [:]
      var count = 0
      var key: [UInt8] = []
      // A repeated key keeps its last value, as JSONSerialization and serde_json do.
      while try nextMember(&count, key: &key) {
        members[String(decoding: key, as: UTF8.self)] = try readValue(depth: depth + 1)
      }
      return .object(members)
    case .array:
      guard depth < Self.maximumDepth else { throw fail("nested deeper than \(Self.maximumDepth) levels") }
      try beginArray()
      var elements: [JSONValue] = []
      var count = 0
      while try nextElement(&count) { elements.append(try readValue(depth: depth + 1)) }
      return .array(elements)
    case .string:
      var bytes: [UInt8] = []
      try readString(into: &bytes)
      return .string(String(decoding: bytes, as: UTF8.self))
    case .number: return .number(try readNumber())
    case .bool: return .bool(try readBool())
    case .null:
      try readNull()
      return .null
    case nil: throw fail(position < text.count ? "expected a value" : "unexpected end of text")
    }
  }

  // MARK: UTF-8

  /// The offset of the first byte that does not start a well-formed UTF-8 sequence (overlong forms, surrogates and
  /// scalars above U+10FFFF are ill-formed), or nil when the whole text is valid UTF-8, as RFC 8259 §8.1 requires.
  /// ref: The Unicode Standard, Table 3-7 "Well-Formed UTF-8 Byte Sequences".
  package static func firstInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
    var i = 0
    let n = bytes.count
    while i < n {
      let b0 = bytes[i]
      if b0 < 0x80 {
        i += 1
        continue
      }
      var length = 0
      var low: UInt8 = 0x80
      var high: UInt8 = 0xBF
      switch b0 {
      case 0xC2...0xDF: length = 2
      case 0xE0:
        length = 3
        low = 0xA0
      case 0xE1...0xEC, 0xEE...0xEF: length = 3
      case 0xED:
        length = 3
        high = 0x9F
      case 0xF0:
        length = 4
        low = 0x90
      case 0xF1...0xF3: length = 4
      case 0xF4:
        length = 4
        high = 0x8F
      default: return i
      }
      guard i + length <= n else { return i }
      guard (low...high).contains(bytes[i + 1]) else { return i }
      for k in 2..<max(length, 2) where !(0x80...0xBF).contains(bytes[i + k]) { return i }
      i += length
    }
    return nil
  }
}
