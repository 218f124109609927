import Foundation
import Glibc
import Memory
import Testing

@Suite struct MappedFileTests {
  @Test(arguments: [1, 4095, 4096, 10_000])
  func mapsAndReadsBytes(count: Int) throws {
    let path = temporaryPath("small")
    defer { unlink(path) }
    try writePatternFile(path, count: count)
    let file = try MappedFile(path: path)
    #expect(file.path == path)
    #expect(file.count == count)
    #expect(file.bytes.enumerated().allSatisfy { $0.element == UInt8($0.offset % 251) })
    // Advice over any range (including out-of-file and empty ranges) is harmless and leaves the bytes readable.
    file.adviseWillNeed(0..<count)
    file.adviseWillNeed(-10..<(count + 10_000))
    file.adviseDontNeed(count..<(count + 1))
    file.adviseDontNeed(0..<count)
    #expect(file.bytes[count - 1] == UInt8((count - 1) % 251))
  }

  @Test func emptyFileMapsToEmptyBuffer() throws {
    let path = temporaryPath("empty")
    defer { unlink(path) }
    try writePatternFile(path, count: 0)
    let file = try MappedFile(path: path)
    #expect(file.count == 0)
    #expect(file.bytes.isEmpty)
    file.adviseWillNeed(0..<10)
    file.adviseDontNeed(0..<10)
  }

  @Test func missingFileIsCannotOpenNamingThePath() {
    let path = temporaryPath("does-not-exist")
    let error = #expect(throws: MemoryError.self) { _ = try MappedFile(path: path) }
    guard case .cannotOpen(let reported, let reason)? = error else {
      Issue.record("expected .cannotOpen, got \(String(describing: error))")
      return
    }
    #expect(reported == path)
    #expect(!reason.isEmpty)
    #expect(error?.description.contains(path) == true)
  }

  @Test func directoryIsNotARegularFile() {
    let path = NSTemporaryDirectory()
    #expect(throws: MemoryError.notARegularFile(path: path)) { _ = try MappedFile(path: path) }
  }
}

extension ResidentMemory {
  @Suite struct MappedFileResidency {
    /// Touching a mapped file's pages counts them in RssFile (clean, reclaimable page-cache pages) and not in
    /// RssAnon: the weights are never copied into the heap. MADV_DONTNEED takes them out of this process's RSS.
    @Test func touchedPagesCountInRssFileNotRssAnon() throws {
      let size = 32 * mebibyte
      let margin = 4 * mebibyte
      let path = temporaryPath("big")
      defer { unlink(path) }
      try writePatternFile(path, count: size)
      let file = try MappedFile(path: path)
      let base = UnsafeRawPointer(file.bytes.baseAddress!)
      let expectedChecksum = stride(from: 0, to: size, by: pageSize).reduce(0) { $0 + $1 % 251 }

      try retrying {
        var failures: [String] = []
        let before = try ProcStatus.current()
        var checksum = 0
        for offset in stride(from: 0, to: size, by: pageSize) { checksum &+= Int(file.bytes[offset]) }
        let during = try ProcStatus.current()
        // File mappings are never merged with others: this entry is exactly our 32 MiB, with no anonymous copy.
        let touched = smapsEntry(containing: base)
        file.adviseDontNeed(0..<size)
        let after = try ProcStatus.current()
        let dropped = smapsEntry(containing: base)

        #expect(checksum == expectedChecksum)
        #expect(touched?["Size"] == size && touched?["Rss"] == size, "smaps: \(String(describing: touched))")
        #expect(touched?["Anonymous"] == 0)
        #expect(dropped?["Rss"] == 0, "smaps after MADV_DONTNEED: \(String(describing: dropped))")
        if during.rssFile - before.rssFile < size - margin {
          failures.append("RssFile rose only \(ByteCount.format(during.rssFile - before.rssFile)) for 32 MiB touched")
        }
        if during.rssAnon - before.rssAnon >= margin {
          failures.append("RssAnon rose \(ByteCount.format(during.rssAnon - before.rssAnon)) reading a mapped file")
        }
        if during.rssFile - after.rssFile < size - margin {
          failures.append("RssFile fell only \(ByteCount.format(during.rssFile - after.rssFile)) after MADV_DONTNEED")
        }
        return failures
      }
    }
  }
}
