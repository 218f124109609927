import Formats
import Foundation

/// The small JSON files training writes and reads (adapter_config.json, trainer_state.json) as Codable values:
/// written with sorted keys, read with errors that name the file and the key.
enum TrainingJSON {
  /// `value`'s JSON with sorted keys: two-space indented (`pretty`, the layout of PEFT's json.dumps(indent=2,
  /// sort_keys=True) but for Foundation's space before each colon) and ending in a newline, or compact on one line.
  static func encoded(_ value: some Encodable, pretty: Bool) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys]
    return [UInt8](try encoder.encode(value)) + (pretty ? [0x0A] : [])
  }

  /// Writes `value` to `path` atomically (`encoded(_:pretty:)`'s bytes).
  static func write(_ value: some Encodable, to path: String, pretty: Bool) throws {
    let writer = try AtomicFileWriter(path: path)
    try writer.write(try encoded(value, pretty: pretty))
    try writer.finish()
  }

  /// The file at `path` decoded as `type`; a file that cannot be read, is not JSON or does not fit the type is a
  /// `TrainingError.checkpoint` naming the file and the key ("r: expected a number, found a string").
  static func read<Value: Decodable>(_ type: Value.Type, path: String) throws -> Value {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw TrainingError.checkpoint(path: path, reason: "cannot read: no such file or not readable")
    }
    do {
      return try JSONDecoder().decode(type, from: data)
    } catch let error as DecodingError {
      throw TrainingError.checkpoint(path: path, reason: describe(error))
    }
  }

  /// A decoding error as the key it concerns and what was wrong there.
  static func describe(_ error: DecodingError) -> String {
    func key(_ path: [any CodingKey]) -> String {
      path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        .replacingOccurrences(of: ".[", with: "[")
    }
    switch error {
    case .keyNotFound(let missing, let context): return key(context.codingPath + [missing]) + ": missing"
    case .valueNotFound(let type, let context): return key(context.codingPath) + ": null, expected \(kind(type))"
    case .typeMismatch(let type, let context): return key(context.codingPath) + ": expected \(kind(type))"
    case .dataCorrupted(let context):
      // An empty coding path: the text itself is not JSON.
      let detail = context.underlyingError.map { " (\($0))" } ?? ""
      return (context.codingPath.isEmpty ? "" : key(context.codingPath) + ": ") + context.debugDescription + detail
    @unknown default: return "\(error)"
    }
  }

  /// "a number", "a string", … for a Swift type in messages.
  static func kind(_ type: Any.Type) -> String {
    switch type {
    case is Bool.Type: "true or false"
    case is Int.Type, is UInt64.Type: "an integer"
    case is Double.Type, is Float.Type: "a number"
    case is String.Type: "a string"
    case is [String].Type, is [Int].Type, is [Double].Type: "a list"
    default: type is any Collection.Type ? "a list or an object" : "\(type)"
    }
  }
}
