/// What went wrong below the model: files, mappings, the ledger. Each case names the file or label involved.
public enum MemoryError: Error, CustomStringConvertible, Equatable {
  case cannotOpen(path: String, reason: String)
  case notARegularFile(path: String)
  case mapFailed(path: String, bytes: Int, reason: String)
  case allocationFailed(label: String, bytes: Int, reason: String)
  case overBudget(label: String, requested: Int, inUse: Int, budget: Int)
  case procUnreadable(path: String, reason: String)
  case numa(reason: String)

  /// Why a file could not be opened, without its path (for a caller whose own error names the file).
  public var reason: String {
    switch self {
    case .cannotOpen(_, let reason): reason
    case .notARegularFile: "not a regular file (a directory, FIFO or device); give the path of a file"
    default: description
    }
  }

  public var description: String {
    switch self {
    case .cannotOpen(let path, let reason): "cannot open \(path): \(reason)"
    case .notARegularFile(let path): "\(path): \(reason)"
    case .mapFailed(let path, let bytes, let reason): "cannot map \(bytes) bytes of \(path): \(reason)"
    case .allocationFailed(let label, let bytes, let reason):
      "cannot allocate \(ByteCount.format(bytes)) for '\(label)': \(reason)"
    case .overBudget(let label, let requested, let inUse, let budget):
      "reserving \(ByteCount.format(requested)) for '\(label)' would exceed the memory budget of "
        + "\(ByteCount.format(budget)) (\(ByteCount.format(inUse)) already reserved); raise --budget or "
        + "choose smaller run options"
    case .procUnreadable(let path, let reason): "cannot read \(path): \(reason)"
    case .numa(let reason): "NUMA: \(reason)"
    }
  }
}
