import Glibc
internal import Memory

extension GGUFFile {
  /// True when `path` is a file that starts with GGUF's magic, read without mapping or parsing it (to tell a GGUF
  /// adapter or model from a directory or another format before opening it).
  public static func hasMagic(atPath path: String) -> Bool {
    // A regular file only: reading a FIFO with no writer would wait forever.
    guard let file = try? openRegularFile(path) else { return false }
    defer { close(file.descriptor) }
    var head: UInt32 = 0
    guard read(file.descriptor, &head, 4) == 4 else { return false }
    return UInt32(littleEndian: head) == magic
  }
}
