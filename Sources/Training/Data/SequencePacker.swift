public import Model

/// One training batch of B rows of exactly T tokens, row-major.
public struct PackedBatch: Sendable, Equatable {
  public let batchSize: Int
  public let seqLen: Int
  /// Input ids, (B·T).
  public var tokens: [Int32]
  /// Next-token targets, (B·T): `targets[t]` is the id position t should predict, -1 where nothing is scored (a
  /// masked token, the last token of each packed sequence, padding).
  public var targets: [Int32]
  /// (B·T): for each position, the row-relative index of the first token of the sequence it belongs to; a
  /// padding position is its own one-token segment. Attention for position t covers keys
  /// `segmentStarts[t]...t` of the same row, so no sequence sees another packed beside it.
  public var segmentStarts: [Int32]
  /// Sequences placed in the batch.
  public var examples: Int
  /// Positions with a target (the loss denominator), and padding positions.
  public var targetCount: Int
  public var paddingCount: Int
}

/// Lays examples into rows of exactly `seqLen` tokens.
///
/// Packed mode fills each row greedily in stream order: the next example goes into the current row if it fits
/// in the space left, otherwise the row is padded and the example starts the next row (examples are never split
/// across rows; one longer than `seqLen` keeps its first `seqLen` tokens). Unpacked mode puts one example per
/// row. Within a row, a sequence at positions `s..<s+n` gets `targets[s+j] = ids[j+1]` when `lossMask[j+1]`
/// (`TrainingExample.targets`), so its last position has no target and no target crosses into the next
/// sequence; `segmentStarts[s+j] = s`. Padding uses `paddingID` with target -1.
///
/// The packer holds no state: it peeks at the stream by copying it, so the stream's position after a batch is
/// exactly the position to resume from (`DataMixture.state`, or `BatchStream.State` which pairs it with a batch
/// count).
/// ref: "Efficient Sequence Packing without Cross-contamination" (Krell et al. 2021); TRL `pack_dataset`
///      (`padding_free` with `position_ids` resetting per sequence).
public struct SequencePacker: Sendable, Equatable {
  public enum Mode: String, Sendable, Codable, CaseIterable {
    case packed, unpacked
  }

  public let batchSize: Int
  public let seqLen: Int
  public let paddingID: Int32
  public let mode: Mode

  public init(batchSize: Int, seqLen: Int, paddingID: Int32, mode: Mode = .packed) throws(TrainingError) {
    guard batchSize >= 1 else {
      throw .invalidOption(name: "batch size", reason: "must be at least 1, not \(batchSize)")
    }
    guard seqLen >= 2 else { throw .invalidOption(name: "seqLen", reason: "must be at least 2 tokens, not \(seqLen)") }
    self.batchSize = batchSize
    self.seqLen = seqLen
    self.paddingID = paddingID
    self.mode = mode
  }

  /// Pads with the model's padding token, else its EOS, else 0 (padding is never attended to by real tokens
  /// nor scored, so its id only has to be a valid embedding row).
  public init(batchSize: Int, seqLen: Int, model: LanguageModel, mode: Mode = .packed) throws(TrainingError) {
    try self.init(batchSize: batchSize, seqLen: seqLen, paddingID: model.paddingID ?? model.eosID ?? 0, mode: mode)
  }

  /// The next batch from `stream`; nil when a finite stream has nothing left. A finite stream's last batch may
  /// have rows of padding only.
  public func nextBatch(from stream: inout some ExampleStream) -> PackedBatch? {
    let size = batchSize * seqLen
    var batch = PackedBatch(
      batchSize: batchSize, seqLen: seqLen, tokens: [Int32](repeating: paddingID, count: size),
      targets: [Int32](repeating: -1, count: size), segmentStarts: (0..<Int32(seqLen)).map { $0 }, examples: 0,
      targetCount: 0, paddingCount: 0)
    batch.segmentStarts = Array((0..<batchSize).map { _ in batch.segmentStarts }.joined())
    var exhausted = false
    for row in 0..<batchSize {
      var used = 0
      while !exhausted && used < seqLen {
        var probe = stream
        guard var example = probe.next() else {
          exhausted = true
          break
        }
        if used > 0 && (mode == .unpacked || example.count > seqLen - used) { break }
        stream = probe
        example.truncate(to: seqLen)
        place(example, at: row * seqLen + used, rowStart: row * seqLen, in: &batch)
        used += example.count
        if mode == .unpacked { break }
      }
      batch.paddingCount += seqLen - used
    }
    return batch.examples == 0 ? nil : batch
  }

  /// Writes one sequence at flat position `start` of the row beginning at `rowStart`.
  private func place(_ example: TrainingExample, at start: Int, rowStart: Int, in batch: inout PackedBatch) {
    let targets = example.targets
    let segment = Int32(start - rowStart)
    for j in 0..<example.count {
      batch.tokens[start + j] = example.tokens[j]
      batch.targets[start + j] = targets[j]
      batch.segmentStarts[start + j] = segment
      if targets[j] >= 0 { batch.targetCount += 1 }
    }
    batch.examples += 1
  }
}

/// Batches packed from a `DataMixture`, with a Codable position for exact resume.
public struct BatchStream: Sendable {
  public struct State: Codable, Equatable, Sendable {
    public var mixture: DataMixture.State
    /// Batches produced so far.
    public var batches: Int
  }

  public let packer: SequencePacker
  public private(set) var mixture: DataMixture
  public private(set) var batches = 0

  public init(packer: SequencePacker, mixture: DataMixture) {
    self.packer = packer
    self.mixture = mixture
  }

  /// Continues from `state` with the same sources (as given to `DataMixture`).
  public init(
    packer: SequencePacker, sources: [(dataset: JSONLDataset, weight: Double)], resuming state: State
  ) throws(TrainingError) {
    self.init(packer: packer, mixture: try DataMixture(sources: sources, resuming: state.mixture))
    self.batches = state.batches
  }

  public var state: State { State(mixture: mixture.state, batches: batches) }

  /// The next batch (the mixture is endless, so there always is one).
  public mutating func next() -> PackedBatch {
    batches += 1
    guard let batch = packer.nextBatch(from: &mixture) else { preconditionFailure("a DataMixture never ends") }
    return batch
  }
}
