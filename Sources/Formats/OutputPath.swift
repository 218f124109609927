import Foundation

/// An output checked before any work, so that a long run never finishes only to find it cannot save its result.
public enum OutputPath {
  public enum Kind: Sendable {
    case file
    case directory
  }

  /// Throws `FormatError.writeFailed` naming `path` when it cannot be created as `kind`: it exists as the other kind,
  /// or its directory is missing, is not a directory or does not take a new file. Creating a file is the test, since
  /// access(2) says yes to root everywhere (procfs, read-only mounts and full disks say no to the write itself).
  public static func requireCreatable(_ path: String, as kind: Kind) throws(FormatError) {
    let url = URL(fileURLWithPath: path).standardizedFileURL
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory),
      isDirectory.boolValue != (kind == .directory)
    {
      throw .writeFailed(
        path: path,
        reason: isDirectory.boolValue ? "it is a directory; give a file name" : "it exists and is not a directory")
    }
    let parent = url.deletingLastPathComponent().path
    guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) else {
      throw .writeFailed(path: path, reason: "the directory \(parent) does not exist")
    }
    guard isDirectory.boolValue else { throw .writeFailed(path: path, reason: "\(parent) is not a directory") }
    let probe = (parent as NSString).appendingPathComponent(".edgetune-write-test-\(getpid())")
    guard FileManager.default.createFile(atPath: probe, contents: Data("x".utf8)) else {
      throw .writeFailed(path: path, reason: "cannot create files in \(parent)")
    }
    try? FileManager.default.removeItem(atPath: probe)
  }
}
