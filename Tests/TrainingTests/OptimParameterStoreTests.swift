import Memory
import Testing
import Training

@Suite struct OptimParameterStoreTests {
  @Test func tensorsStartAlignedAndPaddingIsCounted() throws {
    let ledger = MemoryLedger()
    let store = try ParameterStore(
      [("a", [3, 5]), ("b", [1]), ("c", [16, 2])], label: "test", ledger: ledger)
    // Every tensor starts on a 256-element boundary (8-bit optimizer blocks), so three small tensors take 3 × 256.
    #expect(ParameterStore.alignment == 256)
    #expect(store.tensors.map(\.offset) == [0, 256, 512])
    #expect(store.tensors.map(\.count) == [15, 1, 32])
    #expect(store.count == 768)
    #expect(store.parameterCount == 48)
    #expect(store["b"]?.shape == [1])
    #expect(store["missing"] == nil)
    let snapshot = ledger.snapshot()
    #expect(snapshot.currentByLabel["test"] == 768 * 4)
    #expect(snapshot.currentByLabel["test.gradients"] == 768 * 4)
  }

  @Test func viewsAddressTheFlatBuffersAndGradientsZero() throws {
    let store = try ParameterStore([("a", [4]), ("b", [2, 3])], label: "views", ledger: MemoryLedger())
    let b = store["b"]!
    b.value[5] = 7
    b.gradient[0] = 3
    #expect(store.allValues[b.offset + 5] == 7)
    #expect(store.allGradients[b.offset] == 3)
    store.zeroGradients()
    #expect(store.allGradients.allSatisfy { $0 == 0 })
    #expect(b.value[5] == 7)
  }

  @Test func memoryGoesBackToTheLedger() throws {
    let ledger = MemoryLedger()
    do {
      let store = try ParameterStore([("w", [1024, 1024])], label: "big", ledger: ledger)
      #expect(store.count == 1 << 20)
      #expect(ledger.snapshot().currentBytes == 8 << 20)
    }
    #expect(ledger.snapshot().currentBytes == 0)
  }

  @Test func overBudgetThrowsBeforeTouchingMemory() {
    let ledger = MemoryLedger(budget: 1 << 20)
    #expect(throws: MemoryError.self) { try ParameterStore([("w", [512, 1024])], label: "w", ledger: ledger) }
    #expect(ledger.snapshot().currentBytes == 0)
  }
}
