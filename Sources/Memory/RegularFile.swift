import Glibc

/// Opens an input file for reading, refusing anything but a regular file, and returns its descriptor and size.
/// O_NONBLOCK makes open return at once on a FIFO with no writer (a plain open waits for a writer forever); the type
/// is then checked on the open descriptor. Regular files ignore O_NONBLOCK, so reading them behaves as usual.
public func openRegularFile(_ path: String) throws(MemoryError) -> (descriptor: Int32, size: Int) {
  let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
  guard fd >= 0 else { throw .cannotOpen(path: path, reason: lastSystemErrorDescription()) }
  var info = stat()
  guard fstat(fd, &info) == 0 else {
    let reason = lastSystemErrorDescription()
    close(fd)
    throw .cannotOpen(path: path, reason: reason)
  }
  guard (info.st_mode & S_IFMT) == S_IFREG else {
    close(fd)
    throw .notARegularFile(path: path)
  }
  return (fd, Int(info.st_size))
}
