import Foundation
import Memory
import Paging
import Testing

@Suite struct SpillFileTests {
  static let pageBytes = 4096

  /// A page of floats: smooth values (compressible) or xorshift noise (not).
  static func page(seed: UInt64, noisy: Bool) -> [UInt8] {
    var random = TestRandom(state: seed | 1)
    let floats = (0..<(pageBytes / 4)).map { i -> Float in
      noisy ? Float(bitPattern: UInt32(truncatingIfNeeded: random.next()) & 0x3FFF_FFFF) : Float(i / 64) * 0.5
    }
    return floats.withUnsafeBytes { Array($0) }
  }

  static func roundTrip(_ spill: SpillFile, _ page: Int, _ bytes: [UInt8]) throws -> (stored: Int, back: [UInt8]) {
    let stored = try bytes.withUnsafeBytes { try spill.write(page: page, from: $0) }
    var back = [UInt8](repeating: 0, count: pageBytes)
    let read = try back.withUnsafeMutableBytes { try spill.read(page: page, into: $0) }
    #expect(read == stored)
    return (stored, back)
  }

  @Test(arguments: SpillFile.Compression.allCases) func pagesComeBackBitIdentical(compression: SpillFile.Compression)
    throws
  {
    let directory = try scratchDirectory("roundtrip")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let spill = try SpillFile(
      directory: directory, pageCount: 4, pageBytes: Self.pageBytes, compression: compression, ledger: MemoryLedger())
    let smooth = Self.page(seed: 1, noisy: false)
    let noise = Self.page(seed: 2, noisy: true)
    let (smoothStored, smoothBack) = try Self.roundTrip(spill, 0, smooth)
    let (noiseStored, noiseBack) = try Self.roundTrip(spill, 3, noise)
    #expect(smoothBack == smooth && noiseBack == noise)
    if compression == .lz4 {
      #expect(smoothStored < Self.pageBytes / 4, "smooth data compresses")
    } else {
      #expect(smoothStored == Self.pageBytes)
    }
    #expect(noiseStored == Self.pageBytes, "incompressible pages are stored as they are")
    // A page never written reads as nil (zeros to the cache); rewriting a page replaces it.
    var scratch = [UInt8](repeating: 9, count: Self.pageBytes)
    #expect(try scratch.withUnsafeMutableBytes { try spill.read(page: 1, into: $0) } == nil)
    #expect(try Self.roundTrip(spill, 0, noise).back == noise)
  }

  @Test func theFileIsRemovedWithTheStore() throws {
    let directory = try scratchDirectory("cleanup")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var path = ""
    do {
      let spill = try SpillFile(directory: directory, pageCount: 2, pageBytes: Self.pageBytes, ledger: MemoryLedger())
      path = spill.path
      #expect(FileManager.default.fileExists(atPath: path))
    }
    #expect(!FileManager.default.fileExists(atPath: path))
  }

  @Test func spillsOfKilledRunsAreRemovedByTheNextRun() throws {
    let directory = try scratchDirectory("abandoned")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // Process ids above the kernel's pid_max (4194304 at most) never exist; our own process does.
    let abandoned = directory + "/edgetune-spill-2147483000-17.bin"
    let live = directory + "/edgetune-spill-\(getpid())-18.bin"
    let unrelated = directory + "/notes.bin"
    for path in [abandoned, live, unrelated] { _ = FileManager.default.createFile(atPath: path, contents: Data([1])) }
    let spill = try SpillFile(directory: directory, pageCount: 1, pageBytes: Self.pageBytes, ledger: MemoryLedger())
    #expect(!FileManager.default.fileExists(atPath: abandoned))
    #expect(FileManager.default.fileExists(atPath: live) && FileManager.default.fileExists(atPath: unrelated))
    _ = spill
  }

  @Test func aDamagedPageFailsItsChecksum() throws {
    let directory = try scratchDirectory("corrupt")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let spill = try SpillFile(directory: directory, pageCount: 2, pageBytes: Self.pageBytes, ledger: MemoryLedger())
    _ = try Self.roundTrip(spill, 1, Self.page(seed: 3, noisy: true))
    let handle = try #require(FileHandle(forUpdatingAtPath: spill.path))
    let slot = Int(try handle.seekToEnd()) - Self.pageBytes  // page 1's slot is the last one written
    try handle.seek(toOffset: UInt64(slot + 100))
    try handle.write(contentsOf: Data([0xFF, 0x00, 0xFF]))
    try handle.close()
    var back = [UInt8](repeating: 0, count: Self.pageBytes)
    #expect(throws: PagingError.corruptSpillPage(path: spill.path, page: 1)) {
      _ = try back.withUnsafeMutableBytes { try spill.read(page: 1, into: $0) }
    }
  }

  @Test func aTruncatedFileIsAReadError() throws {
    let directory = try scratchDirectory("truncated")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let spill = try SpillFile(directory: directory, pageCount: 2, pageBytes: Self.pageBytes, ledger: MemoryLedger())
    _ = try Self.roundTrip(spill, 0, Self.page(seed: 4, noisy: true))
    #expect(truncate(spill.path, 10) == 0)
    var back = [UInt8](repeating: 0, count: Self.pageBytes)
    #expect {
      _ = try back.withUnsafeMutableBytes { try spill.read(page: 0, into: $0) }
    } throws: { error in
      "\(error)".contains("shorter than its pages")
    }
  }

  @Test func aDirectoryTooSmallForTheStateIsRefusedUpFront() throws {
    let directory = try scratchDirectory("full")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // 2^21 pages of 512 MiB: a petabyte, more than any test machine's disk.
    #expect {
      _ = try SpillFile(directory: directory, pageCount: 1 << 21, pageBytes: 512 << 20, ledger: MemoryLedger())
    } throws: { error in
      guard case PagingError.spillDirectoryFull(let where_, _, _) = error else { return false }
      return where_ == directory && "\(error)".contains("free space or choose another")
    }
  }

  @Test func anUnusableDirectoryIsAClearError() throws {
    let directory = try scratchDirectory("unusable")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let file = directory + "/plain-file"
    _ = FileManager.default.createFile(atPath: file, contents: Data())
    for path in [file, "/proc/self", file + "/below-a-file"] {
      #expect {
        _ = try SpillFile(directory: path, pageCount: 2, pageBytes: Self.pageBytes, ledger: MemoryLedger())
      } throws: { error in
        guard case PagingError.spillDirectoryUnwritable(let named, _) = error else { return false }
        return named == path
      }
    }
  }

  @Test func aMissingDirectoryIsMade() throws {
    let parent = try scratchDirectory("made")
    defer { try? FileManager.default.removeItem(atPath: parent) }
    let spill = try SpillFile(
      directory: parent + "/a/b", pageCount: 2, pageBytes: Self.pageBytes, ledger: MemoryLedger())
    #expect(spill.path.hasPrefix(parent + "/a/b/edgetune-spill-"))
  }
}
