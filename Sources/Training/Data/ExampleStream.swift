/// A source of examples the packer draws from.
///
/// Conforming types must be values whose copies continue independently: `SequencePacker` peeks at the next
/// example by copying the stream, so the stream's own state is the packer's whole position.
public protocol ExampleStream {
  /// The next example, or nil once a finite stream is exhausted.
  mutating func next() -> TrainingExample?
}

/// One pass over a dataset in file order (evaluation, validation loss): finite, unshuffled.
public struct DatasetPass: ExampleStream, Sendable {
  public let dataset: JSONLDataset
  /// Index of the next example.
  public private(set) var position: Int

  public init(_ dataset: JSONLDataset, position: Int = 0) {
    self.dataset = dataset
    self.position = position
  }

  public mutating func next() -> TrainingExample? {
    guard position < dataset.count else { return nil }
    defer { position += 1 }
    return dataset[position]
  }
}
