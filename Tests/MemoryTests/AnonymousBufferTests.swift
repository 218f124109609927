import Memory
import Testing

@Suite struct AnonymousBufferTests {
  @Test(arguments: [0, 1, 1000, 300_000])
  func isZeroFilledAndReservedWhileAlive(count: Int) throws {
    let ledger = MemoryLedger()
    do {
      let buffer = try AnonymousBuffer<Float>(count: count, label: "activations", ledger: ledger)
      #expect(buffer.count == count)
      #expect(buffer.label == "activations")
      #expect(buffer.buffer.count == count)
      #expect(buffer.buffer.allSatisfy { $0 == 0 })
      // The ledger holds at least the buffer's bytes (count 0 still maps a page so the pointer is valid).
      let reserved = ledger.snapshot().currentByLabel["activations"] ?? 0
      #expect(reserved >= count * MemoryLayout<Float>.stride && reserved > 0)

      for i in 0..<count { buffer.pointer[i] = Float(i) }
      buffer.zero()
      #expect(buffer.buffer.allSatisfy { $0 == 0 })
    }
    #expect(ledger.snapshot().currentBytes == 0)
    #expect(ledger.snapshot().currentByLabel["activations"] == 0)
  }

  @Test func overBudgetThrowsBeforeMapping() {
    let ledger = MemoryLedger(budget: 1000)
    #expect(throws: MemoryError.overBudget(label: "kv-cache", requested: 4000, inUse: 0, budget: 1000)) {
      _ = try AnonymousBuffer<Float>(count: 1000, label: "kv-cache", ledger: ledger)
    }
    #expect(ledger.snapshot().currentBytes == 0)
  }

  @Test func sizeOverflowThrows() {
    #expect(throws: MemoryError.self) {
      _ = try AnonymousBuffer<Double>(count: Int.max / 4, label: "huge", ledger: MemoryLedger())
    }
  }
}

extension ResidentMemory {
  @Suite struct AnonymousBufferResidency {
    /// Written pages show up in the kernel's RssAnon, and go back to the kernel when the owner dies
    /// (the point of mapping instead of malloc: glibc may keep freed heap memory).
    @Test func writtenPagesCountInRssAnonUntilFreed() throws {
      let size = 64 * mebibyte
      let before = try ProcStatus.current()
      let during: ProcStatus
      do {
        let buffer = try AnonymousBuffer<UInt8>(count: size, label: "rss-probe", ledger: MemoryLedger())
        // Untouched pages are not resident.
        let untouched = try ProcStatus.current()
        #expect(untouched.rssAnon - before.rssAnon < 8 * mebibyte)
        for offset in stride(from: 0, to: size, by: pageSize) { buffer.pointer[offset] = 1 }
        during = try ProcStatus.current()
        #expect(buffer.pointer[size - pageSize] == 1)  // keeps the buffer alive past the measurement
      }
      let after = try ProcStatus.current()
      #expect(
        during.rssAnon - before.rssAnon >= size - 8 * mebibyte,
        "RssAnon \(ByteCount.format(before.rssAnon)) -> \(ByteCount.format(during.rssAnon))")
      #expect(
        during.rssAnon - after.rssAnon >= size - 8 * mebibyte,
        "RssAnon after free \(ByteCount.format(after.rssAnon)), during \(ByteCount.format(during.rssAnon))")
    }
  }
}
