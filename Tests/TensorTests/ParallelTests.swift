import Synchronization
import Tensor
import Testing

@Suite struct ParallelTests {
  static let counts = Array(0...40) + [63, 64, 65, 1000, 4097]

  @Test(arguments: [1, 2, 3, 4, 8, 16], [1, 2, 4, 8, 32])
  func partitionCoversEveryIndexOnce(parts: Int, granule: Int) {
    for count in Self.counts {
      var seen = [Int](repeating: 0, count: count)
      var expectedLower = 0
      for part in 0..<parts {
        let range = partition(count, parts: parts, part: part, granule: granule)
        // Contiguous, in order, and every boundary inside the array sits on a granule.
        #expect(range.lowerBound == expectedLower, "count \(count) part \(part)")
        #expect(range.lowerBound == count || range.lowerBound % granule == 0)
        expectedLower = range.upperBound
        for i in range { seen[i] += 1 }
      }
      #expect(expectedLower == count, "count \(count): parts end at \(expectedLower)")
      #expect(seen.allSatisfy { $0 == 1 }, "count \(count) parts \(parts) granule \(granule)")
    }
  }

  @Test func partitionIsBalanced() {
    // Near-equal: with granule 1, part sizes differ by at most one.
    for count in Self.counts {
      for parts in 1...9 {
        let sizes = (0..<parts).map { partition(count, parts: parts, part: $0).count }
        #expect(sizes.max()! - sizes.min()! <= 1, "count \(count) parts \(parts): \(sizes)")
      }
    }
  }

  @Test(arguments: [0, 1, 2, 3, 7, 16])
  func parallelPartsRunsEveryPartOnce(parts: Int) {
    let runs = Mutex([Int](repeating: 0, count: max(parts, 1)))
    parallelParts(parts) { part in runs.withLock { $0[part] += 1 } }
    // Zero parts still runs part 0 inline (as one part), so callers never lose work.
    #expect(runs.withLock { $0 } == [Int](repeating: 1, count: max(parts, 1)))
  }

  /// Thousands of back-to-back regions (the generation pattern): every part of every region runs exactly once and
  /// the region's writes are visible when parallelParts returns.
  @Test func backToBackRegionsRunEveryPartOnce() {
    let counts = Mutex([Int](repeating: 0, count: 2))
    for round in 0..<5000 {
      parallelParts(2) { part in counts.withLock { $0[part] += 1 } }
      let snapshot = counts.withLock { $0 }
      #expect(snapshot == [round + 1, round + 1])
      if snapshot != [round + 1, round + 1] { break }
    }
  }

  /// Several threads calling at once: one gets the worker pool, the others fall back; all parts still run once.
  @Test func concurrentCallersAllComplete() async {
    final class Counter: Sendable { let value = Atomic<Int>(0) }
    let total = Counter()
    await withTaskGroup(of: Void.self) { group in
      for _ in 0..<8 {
        group.addTask {
          for _ in 0..<500 { parallelParts(2) { _ in total.value.add(1, ordering: .relaxed) } }
        }
      }
    }
    #expect(total.value.load(ordering: .relaxed) == 8 * 500 * 2)
  }
}
