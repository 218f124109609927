import Foundation
import Synchronization

/// The temporary files and directories this process is writing (an `AtomicFileWriter`'s or an adapter directory's
/// ".partial-" sibling), registered while they exist. An unfinished writer removes its own when it is released; a
/// process ended by SIGINT or SIGTERM never gets there, so its signal handler calls `removeAll` first.
public enum TemporaryFiles {
  private static let paths = Mutex<Set<String>>([])

  public static func register(_ path: String) { paths.withLock { _ = $0.insert(path) } }

  public static func unregister(_ path: String) { paths.withLock { _ = $0.remove(path) } }

  /// Removes every registered file or directory (a directory with its contents).
  public static func removeAll() {
    for path in paths.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
  }
}
