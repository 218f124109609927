/// A `--data FILE[:WEIGHT]` argument: a JSONL path and its mixing weight (default 1).
public struct DataSourceSpec: Sendable, Equatable, Codable {
  public var path: String
  public var weight: Double

  public init(path: String, weight: Double = 1) {
    self.path = path
    self.weight = weight
  }

  /// Parses "FILE" or "FILE:WEIGHT". A path may itself contain ':', so the text after the last ':' is a weight
  /// only when it is written as a decimal number (digits, '.', an exponent); otherwise the whole text is the path.
  /// A weight that is a number but not positive and finite ("a.jsonl:0") is an error rather than part of a path.
  public static func parse(_ text: String) throws(TrainingError) -> DataSourceSpec {
    guard let colon = text.lastIndex(of: ":") else { return DataSourceSpec(path: text) }
    let path = String(text[..<colon])
    let suffix = text[text.index(after: colon)...]
    guard !path.isEmpty, !suffix.isEmpty, suffix.allSatisfy({ $0.isASCII && "0123456789.eE+-".contains($0) }),
      suffix.contains(where: \.isNumber), let weight = Double(suffix)
    else { return DataSourceSpec(path: text) }
    guard weight > 0 && weight.isFinite else {
      throw .invalidOption(name: "data", reason: "\(text): the weight must be a positive number, not \(suffix)")
    }
    return DataSourceSpec(path: path, weight: weight)
  }
}
