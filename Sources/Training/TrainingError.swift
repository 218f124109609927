/// Why training cannot start or continue, naming the file, line, option or tensor involved.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
  case badLine(path: String, line: Int, reason: String)
  case emptyDataset(path: String, reason: String)
  case unreadableFile(path: String, reason: String)
  case invalidOption(name: String, reason: String)
  case unknownTarget(name: String, known: [String])
  case checkpoint(path: String, reason: String)

  public var description: String {
    switch self {
    case .badLine(let path, let line, let reason): "\(path):\(line): \(reason)"
    case .emptyDataset(let path, let reason): "\(path): no usable examples: \(reason)"
    case .unreadableFile(let path, let reason): "\(path): cannot read: \(reason)"
    case .invalidOption(let name, let reason): "\(name): \(reason)"
    case .unknownTarget(let name, let known):
      "unknown LoRA target '\(name)' (known: \(known.joined(separator: ", ")))"
    case .checkpoint(let path, let reason): "\(path): \(reason)"
    }
  }
}

extension TrainingError {
  /// Throws `invalidOption(name, reason)` unless `condition` holds: the one form of a configuration check.
  static func require(_ condition: Bool, _ name: String, _ reason: @autoclosure () -> String) throws(TrainingError) {
    guard condition else { throw .invalidOption(name: name, reason: reason()) }
  }
}
