import Foundation
import Testing
import Training

/// Weighted multi-source streams: proportions, per-epoch coverage, determinism and exact resume.
@Suite struct DataMixtureTests {
  static let a = DataFixtures.taggedDataset(tag: 9001, count: 37)
  static let b = DataFixtures.taggedDataset(tag: 9002, count: 11)

  @Test func drawsFollowTheWeights() throws {
    var mixture = try DataMixture(sources: [(Self.a, 3), (Self.b, 1)], seed: 42)
    var fromA = 0
    let draws = 4000
    for _ in 0..<draws where mixture.nextDraw().source == 0 { fromA += 1 }
    let share = Double(fromA) / Double(draws)
    // Binomial standard deviation sqrt(0.75 * 0.25 / 4000) ≈ 0.0068: 0.03 is more than four of them.
    #expect(abs(share - 0.75) < 0.03, "share from the weight-3 source: \(share)")
  }

  @Test func eachSourceEpochIsAPermutationAndEpochsDiffer() throws {
    var mixture = try DataMixture(sources: [(Self.a, 1), (Self.b, 1)], seed: 5)
    var perSource: [[Int]] = [[], []]
    while perSource[1].count < 3 * Self.b.count {
      let draw = mixture.nextDraw()
      perSource[draw.source].append(draw.index)
    }
    let epochs = (0..<3).map { Array(perSource[1][($0 * Self.b.count)..<(($0 + 1) * Self.b.count)]) }
    for epoch in epochs { #expect(epoch.sorted() == Array(0..<Self.b.count)) }
    #expect(epochs[0] != epochs[1] || epochs[1] != epochs[2])
    #expect(epochs[0] != Array(0..<Self.b.count), "shuffled")
    #expect(mixture.state.epochs[1] == 2)

    var ordered = try DataMixture(sources: [(Self.b, 1)], seed: 5, shuffle: false)
    #expect((0..<22).map { _ in ordered.nextDraw().index } == Array(0..<11) + Array(0..<11))
  }

  @Test func theSameSeedGivesTheSameStream() throws {
    var first = try DataMixture(sources: [(Self.a, 2), (Self.b, 1)], seed: 9)
    var second = try DataMixture(sources: [(Self.a, 2), (Self.b, 1)], seed: 9)
    var third = try DataMixture(sources: [(Self.a, 2), (Self.b, 1)], seed: 10)
    let one = (0..<300).map { _ in first.next()! }
    #expect(one == (0..<300).map { _ in second.next()! })
    #expect(one != (0..<300).map { _ in third.next()! })
    #expect(one[0].tokens[0] == 9001 || one[0].tokens[0] == 9002)
  }

  @Test(arguments: [0, 1, 36, 37, 500])
  func resumeFromSavedStateContinuesExactly(after drawn: Int) throws {
    let sources: [(dataset: JSONLDataset, weight: Double)] = [(Self.a, 2.5), (Self.b, 1)]
    var original = try DataMixture(sources: sources, seed: 123)
    for _ in 0..<drawn { _ = original.next() }
    let saved = try JSONEncoder().encode(original.state)
    let state = try JSONDecoder().decode(DataMixture.State.self, from: saved)
    #expect(state == original.state && state.drawn == drawn)
    var resumed = try DataMixture(sources: sources, resuming: state)
    for _ in 0..<200 { #expect(resumed.nextDraw() == original.nextDraw()) }
    #expect(resumed.state == original.state)
  }

  @Test func stateForOtherSourcesIsRejected() throws {
    let mixture = try DataMixture(sources: [(Self.a, 1), (Self.b, 1)], seed: 1)
    #expect(throws: TrainingError.self) {
      try DataMixture(sources: [(Self.b, 1), (Self.a, 1)], resuming: mixture.state)
    }
    #expect(throws: TrainingError.self) {
      try DataMixture(sources: [(Self.a, 1), (Self.b, 2)], resuming: mixture.state)
    }
    #expect(throws: TrainingError.self) { try DataMixture(sources: [(Self.a, 0)], seed: 1) }
    #expect(throws: TrainingError.self) { try DataMixture(sources: [], seed: 1) }
  }
}
