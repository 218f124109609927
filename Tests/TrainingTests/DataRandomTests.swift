import Testing
import Training

@Suite struct DataRandomTests {
  /// SplitMix64 reference outputs for seed 0 (from the published C implementation).
  @Test func matchesTheReferenceSequence() {
    var random = DataRandom(seed: 0)
    #expect(random.next() == 0xE220_A839_7B1D_CDAF)
    #expect(random.next() == 0x6E78_9E6A_A1B9_65F4)
  }

  @Test func boundedDrawsAreUniformAndShufflesArePermutations() {
    var random = DataRandom(seed: 11)
    var counts = [Int](repeating: 0, count: 6)
    for _ in 0..<60_000 { counts[random.below(6)] += 1 }
    #expect(counts.allSatisfy { abs($0 - 10_000) < 500 })
    var items = Array(0..<50)
    random.shuffle(&items)
    #expect(items.sorted() == Array(0..<50) && items != Array(0..<50))
    #expect((0..<1000).allSatisfy { _ in (0..<1).contains(random.unit()) })
  }
}
