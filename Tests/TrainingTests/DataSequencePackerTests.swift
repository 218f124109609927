import Foundation
import Testing
import Training

/// Packing rows of exactly T tokens: segment starts, targets that never cross a sequence boundary, padding
/// that is never scored, and exact resume.
@Suite struct DataSequencePackerTests {
  static let a = DataFixtures.taggedDataset(tag: 9001, count: 23, length: { 2 + ($0 * 7) % 13 })
  static let b = DataFixtures.taggedDataset(tag: 9002, count: 9, length: { 3 + $0 % 4 })
  static let pad: Int32 = 7777

  /// The sequences laid in a row, read back from its segment starts (padding excluded).
  static func sequences(in batch: PackedBatch, row: Int) -> [(start: Int, tokens: [Int32], targets: [Int32])] {
    let base = row * batch.seqLen
    var result: [(start: Int, tokens: [Int32], targets: [Int32])] = []
    var t = 0
    while t < batch.seqLen {
      let start = Int(batch.segmentStarts[base + t])
      #expect(start == t, "a segment starts where the previous one ended")
      var end = t + 1
      while end < batch.seqLen && Int(batch.segmentStarts[base + end]) == start { end += 1 }
      let isPadding = end == t + 1 && batch.tokens[base + t] == pad && batch.targets[base + t] == -1
      if !isPadding {
        result.append(
          (t, Array(batch.tokens[(base + t)..<(base + end)]), Array(batch.targets[(base + t)..<(base + end)])))
      }
      t = end
    }
    return result
  }

  @Test(arguments: SequencePacker.Mode.allCases)
  func rowsHoldWholeSequencesWithTheirOwnTargets(mode: SequencePacker.Mode) throws {
    let packer = try SequencePacker(batchSize: 4, seqLen: 16, paddingID: Self.pad, mode: mode)
    var stream = try DataMixture(sources: [(Self.a, 1), (Self.b, 1)], seed: 3)
    var reference = stream
    var total = 0
    for _ in 0..<20 {
      let batch = try #require(packer.nextBatch(from: &stream))
      #expect(batch.tokens.count == 64 && batch.targets.count == 64 && batch.segmentStarts.count == 64)
      var placed = 0
      var padding = 0
      for row in 0..<4 {
        let sequences = Self.sequences(in: batch, row: row)
        if mode == .unpacked { #expect(sequences.count == 1) }
        for sequence in sequences {
          // Sequences appear in stream order, whole, with targets shifted inside the sequence only.
          let next = reference.next()
          let expected = try #require(next)
          #expect(sequence.tokens == expected.tokens)
          #expect(sequence.targets == expected.targets)
          #expect(sequence.targets.last == -1)
          placed += 1
        }
        let used = sequences.reduce(0) { $0 + $1.tokens.count }
        for t in used..<16 {
          let i = row * 16 + t
          #expect(batch.tokens[i] == Self.pad && batch.targets[i] == -1 && batch.segmentStarts[i] == Int32(t))
        }
        padding += 16 - used
        // Every scored position predicts the next token of the same segment.
        for t in 0..<16 where batch.targets[row * 16 + t] >= 0 {
          let i = row * 16 + t
          #expect(t + 1 < 16 && batch.segmentStarts[i + 1] == batch.segmentStarts[i])
          #expect(batch.targets[i] == batch.tokens[i + 1])
        }
      }
      #expect(batch.examples == placed && batch.paddingCount == padding)
      total += placed
      #expect(batch.targetCount == batch.targets.filter { $0 >= 0 }.count)
    }
    // Packing puts several short examples in a row (they average about 7 tokens here).
    #expect(mode == .unpacked ? total == 80 : total > 120)
  }

  @Test func maskedTokensAreNotTargets() throws {
    let example = TrainingExample(tokens: [10, 11, 12, 13, 14], lossMask: [false, false, true, true, false])
    #expect(example.targets == [-1, 12, 13, -1, -1])
    let packer = try SequencePacker(batchSize: 1, seqLen: 12, paddingID: 0)
    var stream = DatasetPass(JSONLDataset(path: "m", examples: [example, example]))
    let batch = try #require(packer.nextBatch(from: &stream))
    #expect(batch.tokens == [10, 11, 12, 13, 14, 10, 11, 12, 13, 14, 0, 0])
    #expect(batch.targets == [-1, 12, 13, -1, -1, -1, 12, 13, -1, -1, -1, -1])
    #expect(batch.segmentStarts == [0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 10, 11])
    #expect(packer.nextBatch(from: &stream) == nil)
  }

  @Test func finitePassEndsWithAPartialBatchThenNil() throws {
    let packer = try SequencePacker(batchSize: 2, seqLen: 8, paddingID: Self.pad, mode: .unpacked)
    var stream = DatasetPass(Self.b)
    var rows = 0
    while let batch = packer.nextBatch(from: &stream) { rows += batch.examples }
    #expect(rows == Self.b.count)
    #expect(stream.position == Self.b.count)
  }

  @Test func longExamplesKeepTheirStart() throws {
    let long = TrainingExample(tokens: Array(1...20), lossMask: Array(repeating: true, count: 20))
    let packer = try SequencePacker(batchSize: 1, seqLen: 8, paddingID: 0)
    var stream = DatasetPass(JSONLDataset(path: "l", examples: [long]))
    let batch = try #require(packer.nextBatch(from: &stream))
    #expect(batch.tokens == Array(1...8))
    #expect(batch.targets == Array(2...8) + [-1])
  }

  @Test func batchStreamResumesExactly() throws {
    let sources: [(dataset: JSONLDataset, weight: Double)] = [(Self.a, 3), (Self.b, 1)]
    let packer = try SequencePacker(batchSize: 3, seqLen: 20, paddingID: Self.pad)
    var original = BatchStream(packer: packer, mixture: try DataMixture(sources: sources, seed: 77))
    var twin = BatchStream(packer: packer, mixture: try DataMixture(sources: sources, seed: 77))
    for _ in 0..<7 { #expect(original.next() == twin.next()) }
    let saved = try JSONEncoder().encode(original.state)
    let state = try JSONDecoder().decode(BatchStream.State.self, from: saved)
    #expect(state.batches == 7)
    var resumed = try BatchStream(packer: packer, sources: sources, resuming: state)
    for _ in 0..<25 { #expect(resumed.next() == original.next()) }
    #expect(resumed.state == original.state)
  }

  @Test func tinyModelPadding() throws {
    let model = try DataFixtures.tinyModel()
    let packer = try SequencePacker(batchSize: 1, seqLen: 4, model: model)
    #expect(packer.paddingID == model.paddingID ?? model.eosID ?? 0)
    #expect(throws: TrainingError.self) { try SequencePacker(batchSize: 0, seqLen: 4, paddingID: 0) }
    #expect(throws: TrainingError.self) { try SequencePacker(batchSize: 1, seqLen: 1, paddingID: 0) }
  }
}
