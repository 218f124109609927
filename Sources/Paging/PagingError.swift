import Memory

/// What can go wrong while optimizer state is paged to a spill file. Every case names the directory or file and
/// says what to do: these reach the user as the reason a run stopped (its last checkpoint stays as it was).
public enum PagingError: Error, CustomStringConvertible, Equatable {
  case spillDirectoryUnwritable(directory: String, reason: String)
  case spillDirectoryFull(directory: String, needed: Int, available: Int)
  case spillWriteFailed(path: String, reason: String)
  case spillReadFailed(path: String, reason: String)
  case corruptSpillPage(path: String, page: Int)

  public var description: String {
    switch self {
    case .spillDirectoryUnwritable(let directory, let reason):
      "cannot create a spill file in \(directory): \(reason); choose a writable directory with "
        + "--optimizer-state disk:DIR"
    case .spillDirectoryFull(let directory, let needed, let available):
      "the spill directory \(directory) is full: optimizer state needs up to \(ByteCount.format(needed)), "
        + "\(ByteCount.format(available)) free; free space or choose another with --optimizer-state disk:DIR"
    case .spillWriteFailed(let path, let reason):
      "writing optimizer state to the spill file \(path) failed: \(reason)"
    case .spillReadFailed(let path, let reason):
      "reading optimizer state back from the spill file \(path) failed: \(reason)"
    case .corruptSpillPage(let path, let page):
      "optimizer state page \(page) read back from \(path) fails its checksum (the spill file was damaged); "
        + "the run stopped rather than train on wrong state: resume from the last checkpoint"
    }
  }
}
