import Foundation

extension GGUFFile {
  /// True when `path` is a file that starts with GGUF's magic, read without mapping or parsing it (to tell a GGUF
  /// adapter or model from a directory or another format before opening it).
  public static func hasMagic(atPath path: String) -> Bool {
    guard let handle = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? handle.close() }
    guard let head = try? handle.read(upToCount: 4), head.count == 4 else { return false }
    return head.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }.littleEndian == magic
  }
}
