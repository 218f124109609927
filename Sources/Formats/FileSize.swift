import Foundation

/// The size in bytes of the file at `path`, or 0 when it does not exist or cannot be read (reports and plans only
/// need an estimate; opening the file later gives the real error).
public func fileSize(atPath path: String) -> Int {
  ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0
}
