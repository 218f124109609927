/// A model or data file that cannot be used, with the file and the place in it.
public enum FormatError: Error, CustomStringConvertible, Equatable {
  case truncated(path: String, offset: Int, reading: String)
  case badMagic(path: String, expected: String, found: String)
  case unsupportedVersion(path: String, version: Int, supported: String)
  case invalidHeader(path: String, offset: Int, reason: String)
  case tensorOutOfBounds(path: String, tensor: String, start: Int, end: Int, fileSize: Int)
  case invalidShape(path: String, tensor: String, reason: String)
  case unsupportedType(path: String, tensor: String, type: String)
  case missingTensor(path: String, tensor: String)
  case missingFile(path: String, reason: String)
  case missingMetadata(path: String, key: String)
  case invalidMetadata(path: String, key: String, reason: String)
  case invalidJSON(path: String, reason: String)
  case writeFailed(path: String, reason: String)
  case checksumMismatch(path: String, tensor: String, expected: String, found: String)

  /// The message, with every field read from the file (names, keys, reasons that quote them) escaped and cut short
  /// (`displayName`): a damaged length field can make a "name" megabytes of binary.
  public var description: String {
    func safeName(_ text: String) -> String { displayName(text) }
    func safeText(_ text: String) -> String { escapedForDisplay(text, limit: 600) { _ in false } }
    return switch self {
    case .truncated(let path, let offset, let reading):
      "\(path): file ends at byte \(offset) while reading \(safeText(reading)); the file is truncated or not what it claims to be"
    case .badMagic(let path, let expected, let found):
      "\(path): not a \(expected) file (starts with \(safeText(found)))"
    case .unsupportedVersion(let path, let version, let supported):
      "\(path): format version \(version) is not supported (supported: \(supported))"
    case .invalidHeader(let path, let offset, let reason):
      "\(path): invalid header at byte \(offset): \(safeText(reason))"
    case .tensorOutOfBounds(let path, let tensor, let start, let end, let fileSize):
      "\(path): tensor '\(safeName(tensor))' spans bytes \(start)..<\(end) but the file has \(fileSize) bytes"
    case .invalidShape(let path, let tensor, let reason):
      "\(path): tensor '\(safeName(tensor))' has an invalid shape: \(safeText(reason))"
    case .unsupportedType(let path, let tensor, let type):
      "\(path): tensor '\(safeName(tensor))' has type \(safeName(type)), which EdgeTune cannot decode (supported: F32, F16, BF16, Q8_0, "
        + "Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K); convert it with llama.cpp's llama-quantize first"
    case .missingTensor(let path, let tensor): "\(path): tensor '\(safeName(tensor))' is missing"
    case .missingFile(let path, let reason): "\(path): \(safeText(reason))"
    case .missingMetadata(let path, let key): "\(path): metadata key '\(safeName(key))' is missing"
    case .invalidMetadata(let path, let key, let reason):
      "\(path): metadata '\(safeName(key))' is invalid: \(safeText(reason))"
    case .invalidJSON(let path, let reason): "\(path): invalid JSON: \(safeText(reason))"
    case .writeFailed(let path, let reason): "cannot write \(path): \(safeText(reason))"
    case .checksumMismatch(let path, let tensor, let expected, let found):
      "\(path): tensor '\(safeName(tensor))' is corrupt: its checksum is \(safeName(found)), the file records \(safeName(expected))"
    }
  }
}
