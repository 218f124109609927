import Glibc

/// Writes a file the way outputs and checkpoints must be written: into a temporary file beside the target, buffered,
/// then fsync and rename. An interrupted write leaves the target untouched (the old file or none) and the temporary
/// file is removed when the writer dies unfinished, or by the CLI's SIGINT/SIGTERM handler (`TemporaryFiles`).
public final class AtomicFileWriter {
  public let path: String
  public let temporaryPath: String
  private var descriptor: Int32
  private var buffer: UnsafeMutableRawPointer
  private let capacity: Int
  private var buffered = 0
  /// Bytes handed to `write` so far: the current end of the file.
  public private(set) var position = 0
  private var finished = false

  public init(path: String, bufferBytes: Int = 1 << 20) throws(FormatError) {
    self.path = path
    let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    self.temporaryPath = path + ".partial-" + suffix
    // Registered before it exists, so an interrupt's cleanup can never miss it (`TemporaryFiles`).
    TemporaryFiles.register(temporaryPath)
    let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      TemporaryFiles.unregister(temporaryPath)
      throw .writeFailed(path: path, reason: "cannot create \(temporaryPath): \(Self.errnoText())")
    }
    self.descriptor = fd
    self.capacity = bufferBytes
    self.buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferBytes, alignment: 64)
  }

  deinit {
    buffer.deallocate()
    if !finished {
      if descriptor >= 0 { close(descriptor) }
      unlink(temporaryPath)
    }
    TemporaryFiles.unregister(temporaryPath)
  }

  /// Appends bytes at the end.
  public func write(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    if buffered + bytes.count > capacity { try flush() }
    if bytes.count >= capacity {
      try writeAll(base, count: bytes.count, at: nil)
    } else {
      (buffer + buffered).copyMemory(from: base, byteCount: bytes.count)
      buffered += bytes.count
    }
    position += bytes.count
  }

  /// Appends `count` zero bytes (alignment padding).
  public func writeZeros(_ count: Int) throws(FormatError) {
    var left = count
    while left > 0 {
      if buffered == capacity { try flush() }
      let n = min(left, capacity - buffered)
      (buffer + buffered).initializeMemory(as: UInt8.self, repeating: 0, count: n)
      buffered += n
      position += n
      left -= n
    }
  }

  /// Writes a small file whole: `bytes` to `path`, atomically (temporary file, fsync, rename).
  public static func write(_ bytes: [UInt8], to path: String) throws(FormatError) {
    let writer = try AtomicFileWriter(path: path)
    try writer.write(bytes)
    try writer.finish()
  }

  /// Appends the bytes of an array (small things: headers).
  public func write(_ bytes: [UInt8]) throws(FormatError) {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    defer { copy.deallocate() }
    copy.copyBytes(from: bytes)
    try write(UnsafeRawBufferPointer(copy))
  }

  /// Overwrites bytes already written at `offset`, from an array (a header patched once its contents are known).
  public func overwrite(_ bytes: [UInt8], at offset: Int) throws(FormatError) {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    defer { copy.deallocate() }
    copy.copyBytes(from: bytes)
    try overwrite(UnsafeRawBufferPointer(copy), at: offset)
  }

  /// Overwrites bytes already written at `offset` (a header patched once its contents are known).
  public func overwrite(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(FormatError) {
    precondition(offset + bytes.count <= position, "overwrite past the end")
    try flush()
    guard let base = bytes.baseAddress else { return }
    try writeAll(base, count: bytes.count, at: offset)
  }

  /// Flushes, fsyncs, renames onto `path` and fsyncs the directory. After this the file is complete under `path`.
  public func finish() throws(FormatError) {
    try flush()
    guard fsync(descriptor) == 0 else { throw .writeFailed(path: path, reason: "fsync failed: \(Self.errnoText())") }
    close(descriptor)
    descriptor = -1
    guard rename(temporaryPath, path) == 0 else {
      let reason = Self.errnoText()
      unlink(temporaryPath)
      finished = true
      throw .writeFailed(path: path, reason: "cannot rename the finished file into place: \(reason)")
    }
    finished = true
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { String(path[..<$0]) } ?? "."
    let dirFD = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dirFD >= 0 {
      _ = fsync(dirFD)
      close(dirFD)
    }
  }

  private func flush() throws(FormatError) {
    guard buffered > 0 else { return }
    try writeAll(UnsafeRawPointer(buffer), count: buffered, at: nil)
    buffered = 0
  }

  private func writeAll(_ start: UnsafeRawPointer, count: Int, at offset: Int?) throws(FormatError) {
    var done = 0
    while done < count {
      let n =
        offset.map { pwrite(descriptor, start + done, count - done, off_t($0 + done)) }
        ?? Glibc.write(descriptor, start + done, count - done)
      if n < 0 {
        if errno == EINTR { continue }
        throw .writeFailed(path: path, reason: Self.errnoText())
      }
      done += n
    }
  }

  static func errnoText() -> String { String(cString: strerror(errno)) }
}
