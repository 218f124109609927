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
      let margin = 8 * mebibyte
      try retrying {
        var failures: [String] = []
        let before = try ProcStatus.current()
        let during: ProcStatus
        do {
          let buffer = try AnonymousBuffer<UInt8>(count: size, label: "rss-probe", ledger: MemoryLedger())
          let untouched = try ProcStatus.current()
          if untouched.rssAnon - before.rssAnon >= margin {
            failures.append("untouched pages are resident: RssAnon \(before.rssAnon) -> \(untouched.rssAnon)")
          }
          for offset in stride(from: 0, to: size, by: pageSize) { buffer.pointer[offset] = 1 }
          during = try ProcStatus.current()
          // The mapping's own entry: every page written is resident and anonymous (neighbours may be merged in).
          let entry = smapsEntry(containing: buffer.pointer)
          #expect(
            (entry?["Rss"] ?? 0) >= size && (entry?["Anonymous"] ?? 0) >= size, "smaps: \(String(describing: entry))")
          #expect(buffer.pointer[size - pageSize] == 1)  // keeps the buffer alive past the measurements
        }
        let after = try ProcStatus.current()
        if during.rssAnon - before.rssAnon < size - margin {
          failures.append("RssAnon rose only \(ByteCount.format(during.rssAnon - before.rssAnon)) for 64 MiB written")
        }
        if during.rssAnon - after.rssAnon < size - margin {
          failures.append("RssAnon fell only \(ByteCount.format(during.rssAnon - after.rssAnon)) after the buffer died")
        }
        return failures
      }
    }
  }
}
