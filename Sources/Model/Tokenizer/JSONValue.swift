/// A materialized JSON value, for the small parts of tokenizer.json (the pre-tokenizer, normalizer, decoder,
/// post-processor and added tokens) whose shapes are easier to recognize as a tree. The vocabulary and merges are
/// never read into one of these: `JSONReader` walks them.
enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  subscript(key: String) -> JSONValue? {
    if case .object(let members) = self { return members[key] }
    return nil
  }

  var string: String? {
    if case .string(let text) = self { return text }
    return nil
  }

  var array: [JSONValue]? {
    if case .array(let elements) = self { return elements }
    return nil
  }

  var object: [String: JSONValue]? {
    if case .object(let members) = self { return members }
    return nil
  }

  var number: Double? {
    if case .number(let value) = self { return value }
    return nil
  }

  /// `true`/`false`, and also the numbers 0 and 1: Foundation's `as? Bool` accepted those from JSONSerialization,
  /// and the loader keeps what it accepted.
  var bool: Bool? {
    switch self {
    case .bool(let flag): return flag
    case .number(let value) where value == 0 || value == 1: return value == 1
    default: return nil
    }
  }

  var isNull: Bool { self == .null }

  /// Parses a whole text (tests, and callers with a small document).
  init(parsing bytes: [UInt8]) throws(JSONSyntaxError) {
    var result: Result<JSONValue, JSONSyntaxError> = .success(.null)
    bytes.withUnsafeBufferPointer { text in
      result = Result { () throws(JSONSyntaxError) -> JSONValue in
        var reader = JSONReader(text, at: JSONReader.startOffset(text))
        let value = try reader.readValue(depth: 0)
        reader.skipSpace()
        guard reader.position == text.count else { throw reader.fail("unexpected text after the value") }
        return value
      }
    }
    self = try result.get()
  }
}

extension JSONValue: CustomStringConvertible {
  /// Compact JSON-like text, for messages.
  var description: String {
    switch self {
    case .null: "null"
    case .bool(let flag): "\(flag)"
    case .number(let value): value == value.rounded() && abs(value) < 1e15 ? "\(Int(value))" : "\(value)"
    case .string(let text): "\"\(text)\""
    case .array(let elements): "[" + elements.map(\.description).joined(separator: ", ") + "]"
    case .object(let members):
      "{" + members.keys.sorted().map { "\"\($0)\": \(members[$0]!.description)" }.joined(separator: ", ") + "}"
    }
  }
}
