import Glibc

/// Reads a text file one line at a time with getline(3): only the current line is in memory, however large the
/// file. Owns the `FILE` and getline's buffer, and frees both in `deinit`.
struct LineReader: ~Copyable {
  let path: String
  // unsafe: the FILE stream and getline's malloc'd buffer are owned here alone and released in deinit.
  private let file: UnsafeMutablePointer<FILE>
  private var buffer: UnsafeMutablePointer<CChar>? = nil
  private var capacity = 0
  /// 1-based number of the line last returned.
  private(set) var lineNumber = 0

  init(path: String) throws(TrainingError) {
    guard let file = fopen(path, "rb") else {
      throw .unreadableFile(path: path, reason: String(cString: strerror(errno)))
    }
    self.path = path
    self.file = file
  }

  deinit {
    free(buffer)
    fclose(file)
  }

  /// Calls `body` with the next line's bytes, without its "\n" or "\r\n" (and without a UTF-8 byte-order mark on
  /// line 1) and its 1-based number; returns nil at the end of the file. The bytes are valid only inside `body`.
  mutating func nextLine<Result>(
    _ body: (_ line: UnsafeRawBufferPointer, _ lineNumber: Int) throws(TrainingError) -> Result
  ) throws(TrainingError) -> Result? {
    let length = getline(&buffer, &capacity, file)
    guard length >= 0, let buffer else {
      if ferror(file) != 0 {
        throw .unreadableFile(
          path: path, reason: "read error after line \(lineNumber): \(String(cString: strerror(errno)))")
      }
      return nil
    }
    lineNumber += 1
    var start = 0
    var end = length
    if end > 0 && buffer[end - 1] == 0x0A { end -= 1 }
    if end > 0 && buffer[end - 1] == 0x0D { end -= 1 }
    if lineNumber == 1 && end >= 3 && UInt8(bitPattern: buffer[0]) == 0xEF && UInt8(bitPattern: buffer[1]) == 0xBB
      && UInt8(bitPattern: buffer[2]) == 0xBF
    {
      start = 3
    }
    return try body(UnsafeRawBufferPointer(start: buffer + start, count: end - start), lineNumber)
  }
}
