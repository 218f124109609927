/// A tokenizer or chat template that cannot be built from its description: what is wrong and where.
///
/// `source` is the file (a GGUF or tokenizer.json path, or whatever the caller named it); `location` is the key,
/// array index or byte offset inside it. Every user-reachable failure of the tokenizer module is one of these.
public struct TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
  /// What went wrong, without the where.
  public enum Kind: Equatable, Sendable {
    /// The bytes are not UTF-8; `location` holds the byte offset of the first bad byte.
    case invalidUTF8
    /// The file is not JSON (the parser's own message follows).
    case invalidJSON
    /// A required key is absent.
    case missingKey
    /// A key holds a value of the wrong type or shape.
    case invalidValue
    /// The file describes a tokenizer feature this implementation does not have.
    case unsupported
    /// A merge names a token (or yields a token) that is not in the vocabulary.
    case unknownToken
    /// A token id is outside the vocabulary.
    case idOutOfRange
    /// A chat template this renderer does not recognize.
    case unsupportedChatTemplate
  }

  public var kind: Kind
  /// The file or object the description came from.
  public var source: String
  /// Where in `source`: a JSON key path, a GGUF key with an index, or a byte offset.
  public var location: String
  /// A sentence a user can act on.
  public var message: String

  public init(_ kind: Kind, source: String, location: String, _ message: String) {
    self.kind = kind
    self.source = source
    self.location = location
    self.message = message
  }

  public var description: String {
    let place = location.isEmpty ? source : "\(source), \(location)"
    return "tokenizer error in \(place): \(message)"
  }
}
