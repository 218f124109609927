import Memory
import Testing

@Suite struct MemoryLedgerTests {
  @Test func tracksCurrentAndPeakByLabel() throws {
    let ledger = MemoryLedger()
    try ledger.reserve(10, label: "weights")
    try ledger.reserve(20, label: "activations")
    try ledger.reserve(5, label: "weights")
    ledger.release(15, label: "weights")
    try ledger.reserve(4, label: "activations")
    ledger.release(24, label: "activations")
    try ledger.reserve(1, label: "kv-cache")

    let s = ledger.snapshot()
    #expect(s.currentBytes == 1)
    #expect(s.peakBytes == 35)
    #expect(s.currentByLabel == ["weights": 0, "activations": 0, "kv-cache": 1])
    #expect(s.peakByLabel == ["weights": 15, "activations": 24, "kv-cache": 1])
  }

  @Test func overBudgetThrowsNamingTheLabelAndChangesNothing() throws {
    let ledger = MemoryLedger(budget: 100)
    try ledger.reserve(60, label: "weights")
    let before = ledger.snapshot()

    let error = #expect(throws: MemoryError.self) { try ledger.reserve(41, label: "activations") }
    #expect(error == .overBudget(label: "activations", requested: 41, inUse: 60, budget: 100))
    #expect(error?.description.contains("'activations'") == true)
    #expect(ledger.snapshot() == before)

    // Filling the budget exactly is allowed; one byte more is not.
    try ledger.reserve(40, label: "activations")
    #expect(throws: MemoryError.self) { try ledger.reserve(1, label: "scratch") }
    #expect(ledger.snapshot().currentBytes == 100)
    #expect(ledger.snapshot().currentByLabel["scratch"] == nil)
  }

  @Test func concurrentReserveAndReleaseEndsAtZero() async throws {
    let ledger = MemoryLedger(budget: 1 << 40)
    let labels = ["weights", "activations", "kv-cache", "scratch"]
    try await withThrowingTaskGroup(of: Void.self) { group in
      for task in 0..<64 {
        group.addTask {
          let label = labels[task % labels.count]
          for round in 0..<200 {
            let bytes = (task + 1) * 1024 + round
            try ledger.reserve(bytes, label: label)
            await Task.yield()
            ledger.release(bytes, label: label)
          }
        }
      }
      try await group.waitForAll()
    }
    let s = ledger.snapshot()
    #expect(s.currentBytes == 0)
    #expect(s.currentByLabel.values.allSatisfy { $0 == 0 })
    #expect(Set(s.currentByLabel.keys) == Set(labels))
    #expect(s.peakBytes >= 64 * 1024 + 199)  // at least the largest single reservation
  }
}
