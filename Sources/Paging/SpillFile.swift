internal import CLZ4
internal import CShims
import Formats
import Foundation
import Glibc
public import Memory

/// A spill file on disk: the backing store of paged optimizer state.
///
/// Page `p` lives in its own fixed slot at `p × slotBytes` (the LZ4 worst case when compressing), so a page
/// rewritten with a different compressed size never moves anything else. The slot table (stored size, CRC-32,
/// compressed or not) stays in RAM: the file is scratch, only meaningful to the process that wrote it. It is
/// created with a unique name (with the process id), removed when the store goes away, and by the next spilling run
/// if its process was killed. A directory deleted mid-run does not matter:
/// the open descriptor keeps the file alive until then. Checkpoints never point into it; they copy the state out.
public final class SpillFile: PageBackingStore, @unchecked Sendable {
  // @unchecked Sendable: after init only the page cache's I/O thread calls in, one call at a time (protocol rule).
  public enum Compression: String, Sendable, CaseIterable {
    case lz4, none
  }

  public let pageBytes: Int
  public let path: String
  public let directory: String
  public let compression: Compression
  private let slotBytes: Int
  private let descriptor: Int32
  private var slots: [Slot?]
  /// Compression output and read input: one slot.
  private let scratch: AnonymousBuffer<UInt8>

  struct Slot {
    var storedBytes: Int
    var checksum: UInt32
    var compressed: Bool
  }

  /// Creates the spill file for `pageCount` pages in `directory` (made if missing), after checking that the
  /// directory is writable and has room for every page uncompressed (the worst case), so a full disk is found before
  /// training.
  public init(
    directory: String, pageCount: Int, pageBytes: Int, compression: Compression = .lz4, ledger: MemoryLedger
  ) throws {
    precondition(pageCount > 0 && pageBytes > 0 && pageBytes <= Int(Int32.max), "bad spill geometry")
    var isDirectory: ObjCBool = false
    if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
      // A spill directory named in a profile (/var/tmp/edgetune) is made on first use, like a cache directory.
      do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      } catch {
        throw PagingError.spillDirectoryUnwritable(
          directory: directory, reason: "it does not exist and cannot be created")
      }
    } else if !isDirectory.boolValue {
      throw PagingError.spillDirectoryUnwritable(directory: directory, reason: "it is a file, not a directory")
    }
    let needed = pageCount * pageBytes
    var info = statvfs()
    if statvfs(directory, &info) == 0 && info.f_blocks > 0 {  // pseudo file systems report no blocks
      let available = Int(info.f_bavail) * Int(info.f_frsize)
      guard available >= needed else {
        throw PagingError.spillDirectoryFull(directory: directory, needed: needed, available: available)
      }
    }
    Self.removeAbandonedSpills(in: directory)
    let name = "\(Self.namePrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max)).bin"
    let path = (directory as NSString).appendingPathComponent(name)
    let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw PagingError.spillDirectoryUnwritable(directory: directory, reason: Self.errnoText()) }
    self.slotBytes = compression == .lz4 ? Int(LZ4_compressBound(Int32(pageBytes))) : pageBytes
    do {
      self.scratch = try AnonymousBuffer<UInt8>(count: slotBytes, label: "optimizer-spill-buffer", ledger: ledger)
    } catch {
      close(fd)
      unlink(path)
      throw error
    }
    self.pageBytes = pageBytes
    self.path = path
    self.directory = directory
    self.compression = compression
    self.descriptor = fd
    self.slots = Array(repeating: nil, count: pageCount)
  }

  deinit {
    close(descriptor)
    unlink(path)
  }

  static let namePrefix = "edgetune-spill-"

  /// Deletes spill files left in `directory` by runs that were killed (their process id no longer exists), so a
  /// `kill -9` costs disk space only until the next run that spills there.
  static func removeAbandonedSpills(in directory: String) {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
    for name in names where name.hasPrefix(namePrefix) && name.hasSuffix(".bin") {
      let fields = name.dropFirst(namePrefix.count).split(separator: "-")
      guard fields.count == 2, let pid = Int32(fields[0]), pid > 0 else { continue }
      if kill(pid, 0) != 0 && edgetune_errno() == ESRCH {
        unlink((directory as NSString).appendingPathComponent(name))
      }
    }
  }

  public var summary: String {
    (compression == .lz4 ? "LZ4-compressed spill file " : "spill file ") + path
  }

  public func write(page: Int, from bytes: UnsafeRawBufferPointer) throws(PagingError) -> Int {
    precondition(bytes.count == pageBytes, "page of \(bytes.count) bytes, expected \(pageBytes)")
    var stored = UnsafeRawBufferPointer(bytes)
    var compressed = false
    if compression == .lz4 {
      let size = LZ4_compress_default(
        bytes.baseAddress!.assumingMemoryBound(to: CChar.self),
        UnsafeMutableRawPointer(scratch.pointer).assumingMemoryBound(to: CChar.self), Int32(pageBytes),
        Int32(slotBytes))
      // Incompressible pages (LZ4 fails or gains nothing) are stored as they are: reading them back is a copy.
      if size > 0 && Int(size) < pageBytes {
        stored = UnsafeRawBufferPointer(start: scratch.pointer, count: Int(size))
        compressed = true
      }
    }
    let checksum = CRC32.checksum(stored)
    try transfer(
      stored.count, at: page * slotBytes, writing: true, UnsafeMutableRawPointer(mutating: stored.baseAddress!))
    slots[page] = Slot(storedBytes: stored.count, checksum: checksum, compressed: compressed)
    return stored.count
  }

  public func read(page: Int, into bytes: UnsafeMutableRawBufferPointer) throws(PagingError) -> Int? {
    precondition(bytes.count == pageBytes, "page of \(bytes.count) bytes, expected \(pageBytes)")
    guard let slot = slots[page] else { return nil }
    let target = slot.compressed ? UnsafeMutableRawPointer(scratch.pointer) : bytes.baseAddress!
    try transfer(slot.storedBytes, at: page * slotBytes, writing: false, target)
    guard CRC32.checksum(UnsafeRawBufferPointer(start: target, count: slot.storedBytes)) == slot.checksum else {
      throw .corruptSpillPage(path: path, page: page)
    }
    if slot.compressed {
      let size = LZ4_decompress_safe(
        UnsafeRawPointer(scratch.pointer).assumingMemoryBound(to: CChar.self),
        bytes.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(slot.storedBytes), Int32(pageBytes))
      guard Int(size) == pageBytes else { throw .corruptSpillPage(path: path, page: page) }
    }
    return slot.storedBytes
  }

  public func discardAll() {
    slots = Array(repeating: nil, count: slots.count)
  }

  /// pwrite/pread of `count` bytes at `offset`, resuming after short transfers and EINTR.
  private func transfer(_ count: Int, at offset: Int, writing: Bool, _ pointer: UnsafeMutableRawPointer)
    throws(PagingError)
  {
    var done = 0
    while done < count {
      let n =
        writing
        ? pwrite(descriptor, pointer + done, count - done, off_t(offset + done))
        : pread(descriptor, pointer + done, count - done, off_t(offset + done))
      if n > 0 {
        done += n
        continue
      }
      let code = edgetune_errno()
      if n < 0 && code == EINTR { continue }
      if writing {
        if n < 0 && (code == ENOSPC || code == EDQUOT) {
          throw .spillDirectoryFull(directory: directory, needed: count - done, available: 0)
        }
        throw .spillWriteFailed(path: path, reason: n < 0 ? Self.errnoText() : "the write made no progress")
      }
      throw .spillReadFailed(path: path, reason: n < 0 ? Self.errnoText() : "the file is shorter than its pages")
    }
  }

  private static func errnoText() -> String { String(cString: strerror(edgetune_errno())) }
}
