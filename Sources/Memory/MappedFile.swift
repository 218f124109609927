internal import CShims
import Glibc

/// A whole file mapped read-only into the address space: the only owner of the mapping, unmapped in `deinit`.
///
/// Model weights are read through this and never copied into the heap: the kernel pages them in on first touch and
/// may drop them again under pressure (they are clean file pages), so they count in RssFile, not RssAnon.
/// Everyone else borrows `bytes` for no longer than the owner lives.
public struct MappedFile: ~Copyable, @unchecked Sendable {
  // @unchecked Sendable: the mapping is read-only (PROT_READ) for its whole life, so concurrent reads are safe.
  public let path: String
  /// The file's bytes. Valid until this value is destroyed.
  public let bytes: UnsafeRawBufferPointer
  private let descriptor: Int32

  /// Opens and maps `path`. An empty file maps to an empty buffer (mmap refuses length 0).
  public init(path: String) throws(MemoryError) {
    let (fd, length) = try openRegularFile(path)
    var mapped = UnsafeRawBufferPointer(start: nil, count: 0)
    if length > 0 {
      guard let address = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
        let reason = lastSystemErrorDescription()
        close(fd)
        throw .mapFailed(path: path, bytes: length, reason: reason)
      }
      mapped = UnsafeRawBufferPointer(start: address, count: length)
    }
    self.path = path
    self.descriptor = fd
    self.bytes = mapped
  }

  deinit {
    if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    close(descriptor)
  }

  public var count: Int { bytes.count }

  /// Asks the kernel to start reading `range` in (non-blocking readahead): used to prefetch the next layer.
  public func adviseWillNeed(_ range: Range<Int>) {
    guard let (start, length) = pageAligned(range) else { return }
    _ = edgetune_madvise_willneed(start, length)
  }

  /// Drops this process's pages of `range`; the page cache may keep them, the process's RSS no longer counts them.
  public func adviseDontNeed(_ range: Range<Int>) {
    guard let (start, length) = pageAligned(range) else { return }
    _ = edgetune_madvise_dontneed(start, length)
  }

  /// The whole pages covering `range`, clamped to the file.
  private func pageAligned(_ range: Range<Int>) -> (UnsafeMutableRawPointer, Int)? {
    guard let base = bytes.baseAddress else { return nil }
    let lower = max(0, range.lowerBound)
    let upper = min(bytes.count, range.upperBound)
    guard lower < upper else { return nil }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let alignedLower = lower / page * page
    let start = UnsafeMutableRawPointer(mutating: base) + alignedLower
    return (start, upper - alignedLower)
  }
}
