/// A materialized JSON value, for the small parts of tokenizer.json (the pre-tokenizer, normalizer, decoder,
/// post-processor and added tokens) and of a safetensors header (one tensor's entry) whose shapes are easier to
/// recognize as a tree. Large parts (the vocabulary and merges, the header's metadata) are never read into one of
/// these: `JSONReader` walks them.
package enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  package subscript(key: String) -> JSONValue? {
    if case .object(let members) = self { return members[key] }
    return nil
  }

  package var string: String? {
    if case .string(let text) = self { return text }
    return nil
  }

  package var array: [JSONValue]? {
    if case .array(let elements) = self { return elements }
    return nil
  }

  package var object: [String: JSONValue]? {
    if case .object(let members) = self { return members }
    return nil
  }

  package var number: Double? {
    if case .number(let value) = self { return value }
    return nil
  }

  /// `true`/`false`, and also the numbers 0 and 1: Foundation's `as? Bool` accepted those from JSONSerialization,
  /// and the loader keeps what it accepted.
  package var bool: Bool? {
    switch self {
    case .bool(let flag): return flag
    case .number(let value) where value == 0 || value == 1: return value == 1
    default: return nil
    }
  }

  package var isNull: Bool { self == .null }

  /// Parses a whole text (tests, and callers with a small document).
  package init(parsing bytes: [UInt8]) throws(JSONSyntaxError) {
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
  package var description: String {
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
