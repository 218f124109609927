import Formats
import Foundation
import Memory

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
    try AtomicFileWriter.write(try encoded(value, pretty: pretty), to: path)
  }

  /// The file at `path` decoded as `type`; a file that cannot be read, is not JSON or does not fit the type is a
  /// `TrainingError.checkpoint` naming the file and the key (`"r" is not a number`, `it has no "step"`).
  static func read<Value: Decodable>(_ type: Value.Type, path: String) throws -> Value {
    let data: Data
    do {
      // A FIFO in a checkpoint's place is refused instead of read forever.
      data = try MappedFile.contents(ofFile: path)
    } catch {
      throw TrainingError.checkpoint(path: path, reason: "cannot read: \(error.reason)")
    }
    do {
      return try JSONDecoder().decode(type, from: data)
    } catch let error as DecodingError {
      throw TrainingError.checkpoint(path: path, reason: error.keyedDescription)
    }
  }
}
