import Memory
import Paging
import Testing

@Suite struct PageCacheTests {
  /// Pages of 64 bytes; each write stamps every byte of the page with a value the reference records.
  static let pageBytes = 64

  /// Applies `accesses` (page, value to stamp or nil to only read) to a cache and to `reference` (one value per page),
  /// checking every read against it.
  static func exercise(_ cache: PageCache, _ reference: inout [UInt8], accesses: [(Int, UInt8?)]) throws {
    for (page, stamp) in accesses {
      try cache.withPage(page, dirtying: stamp != nil) { bytes in
        #expect(bytes.allSatisfy { $0 == reference[page] }, "page \(page) lost its contents")
        if let stamp {
          for i in 0..<bytes.count { bytes[i] = stamp }
          reference[page] = stamp
        }
      }
    }
  }

  @Test(arguments: [2, 3, 5, 40]) func randomAccessKeepsEveryPage(frames: Int) throws {
    let pages = 17
    let cache = try PageCache(
      pageCount: pages, frameCount: frames, backing: DictionaryBacking(pageBytes: Self.pageBytes), label: "t",
      ledger: MemoryLedger())
    var random = TestRandom(state: UInt64(frames) &* 0x9E37_79B9)
    let accesses = (0..<500).map { _ -> (Int, UInt8?) in
      let page = Int(random.next() % UInt64(pages))
      let value = UInt8(truncatingIfNeeded: random.next())
      return (page, random.next() % 3 == 0 ? nil : value)
    }
    var reference = [UInt8](repeating: 0, count: pages)
    try Self.exercise(cache, &reference, accesses: accesses)
  }

  @Test func cyclicSweepsMoveEachPageOncePerSweepAndReadAheadAcrossTheEnd() throws {
    let pages = 10
    let backing = DictionaryBacking(pageBytes: Self.pageBytes)
    let cache = try PageCache(pageCount: pages, frameCount: 4, backing: backing, label: "t", ledger: MemoryLedger())
    #expect(cache.readAhead == 2)
    var reference = [UInt8](repeating: 0, count: pages)
    for sweep in 0..<5 { try Self.exercise(cache, &reference, accesses: (0..<pages).map { ($0, UInt8(sweep + 1)) }) }
    // Wait for the read-ahead that the last access queued, then count.
    try cache.withPage(0, dirtying: false) { _ in }
    let s = cache.statistics
    // Every sweep after the first writes back each page once, except the frames that stay resident.
    #expect(s.pagesOut >= 4 * (pages - 4) && s.pagesOut <= 5 * pages)
    #expect(s.pagesIn <= s.pagesOut + 4)
    #expect(s.bytesWritten == s.pagesOut * Self.pageBytes && s.compressionRatio == 1)
  }

  @Test func stateThatFitsIsNeverWritten() throws {
    let backing = DictionaryBacking(pageBytes: Self.pageBytes)
    let cache = try PageCache(pageCount: 3, frameCount: 8, backing: backing, label: "t", ledger: MemoryLedger())
    #expect(cache.frameCount == 4)
    var reference = [UInt8](repeating: 0, count: 3)
    for sweep in 0..<4 { try Self.exercise(cache, &reference, accesses: (0..<3).map { ($0, UInt8(sweep)) }) }
    #expect(backing.writes == 0 && cache.statistics.pagesOut == 0)
  }

  @Test func resetZeroesResidentAndStoredPages() throws {
    let cache = try PageCache(
      pageCount: 9, frameCount: 3, backing: DictionaryBacking(pageBytes: Self.pageBytes), label: "t",
      ledger: MemoryLedger())
    var reference = [UInt8](repeating: 0, count: 9)
    try Self.exercise(cache, &reference, accesses: (0..<9).map { ($0, 7) })
    try cache.reset()
    var zeros = [UInt8](repeating: 0, count: 9)
    try Self.exercise(cache, &zeros, accesses: (0..<9).map { ($0, nil) })
  }

  @Test func aFailedWriteStopsEveryLaterAccess() throws {
    let backing = DictionaryBacking(pageBytes: Self.pageBytes)
    backing.failAfterWrites = 3
    let cache = try PageCache(pageCount: 8, frameCount: 3, backing: backing, label: "t", ledger: MemoryLedger())
    #expect(throws: PagingError.self) {
      var reference = [UInt8](repeating: 0, count: 8)
      for sweep in 0..<3 { try Self.exercise(cache, &reference, accesses: (0..<8).map { ($0, UInt8(sweep + 1)) }) }
    }
    #expect(throws: backing.fault) { try cache.withPage(0, dirtying: false) { _ in } }
  }

  @Test func framesAreReservedInTheLedger() throws {
    let ledger = MemoryLedger()
    let cache = try PageCache(
      pageCount: 100, frameCount: 5, backing: DictionaryBacking(pageBytes: 4096), label: "optimizer-pages",
      ledger: ledger)
    #expect(ledger.snapshot().currentByLabel["optimizer-pages"] == 5 * 4096)
    _ = cache
  }
}
