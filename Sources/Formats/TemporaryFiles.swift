import Foundation
import Synchronization

/// The temporary files and directories this process is writing (an `AtomicFileWriter`'s, an adapter directory's or a
/// checkpoint's ".partial-" path), registered before they are created and unregistered once renamed or removed. An
/// unfinished writer removes its own when it is released; a process ended by SIGINT or SIGTERM never gets there, so
/// its signal handler calls `removeAll(then:)` first.
public enum TemporaryFiles {
  private static let paths = Mutex<Set<String>>([])

  public static func register(_ path: String) { paths.withLock { _ = $0.insert(path) } }

  public static func unregister(_ path: String) { paths.withLock { _ = $0.remove(path) } }

  /// Removes every registered file or directory (a directory with its contents), then calls `end` (which ends the
  /// process), all while holding the registry: a writer that registers or unregisters a path waits, so no new
  /// temporary file appears in between. The other threads keep running meanwhile, so a directory may gain a file while
  /// it is being removed; three passes a few milliseconds apart leave it gone.
  public static func removeAll(then end: () -> Never) -> Never {
    paths.withLock { registered in
      for pass in 0..<3 {
        if pass > 0 { usleep(5_000) }
        for path in registered { try? FileManager.default.removeItem(atPath: path) }
      }
      end()
    }
  }
}
