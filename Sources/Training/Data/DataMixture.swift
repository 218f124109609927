/// An endless, deterministic stream of examples mixed from several datasets (multi-task training).
///
/// Each draw picks source i with probability `weight_i / Σ weights`, then takes that source's next example in
/// its current epoch order: a seeded shuffle per (source, epoch), reshuffled each time the source is exhausted,
/// so every example of a source is seen once per epoch of that source. The order depends only on the seed, the
/// weights and the dataset sizes; `state` (Codable) captures the position, and `init(sources:resuming:)`
/// continues exactly where it was saved.
/// ref: Hugging Face datasets `interleave_datasets(probabilities:, seed:, stopping_strategy: "all_exhausted")`,
///      except that an exhausted source restarts reshuffled instead of the stream ending.
public struct DataMixture: ExampleStream, Sendable {
  /// Where the stream is: everything needed, with the same sources, to continue it.
  public struct State: Codable, Equatable, Sendable {
    public var seed: UInt64
    /// The generator that picks sources, after the last draw.
    public var picker: DataRandom
    /// Per source: the epoch in progress (0-based) and the position within its shuffled order.
    public var epochs: [Int]
    public var positions: [Int]
    /// Examples drawn so far.
    public var drawn: Int
    /// Sizes and weights of the sources, checked on resume so a state is not applied to different data.
    public var sourceCounts: [Int]
    public var weights: [Double]
    public var shuffle: Bool
  }

  public let datasets: [JSONLDataset]
  public let weights: [Double]
  /// Running sums of the weights, (sources).
  private let cumulative: [Double]
  /// Each source's example order for its current epoch, (source count).
  private var orders: [[Int32]]
  public private(set) var state: State

  /// Mixes `sources`; weights must be positive and finite, datasets non-empty.
  public init(
    sources: [(dataset: JSONLDataset, weight: Double)], seed: UInt64, shuffle: Bool = true
  ) throws(TrainingError) {
    let state = State(
      seed: seed, picker: DataRandom(seed: seed, stream: [0x7069_636B]),  // "pick"
      epochs: Array(repeating: 0, count: sources.count), positions: Array(repeating: 0, count: sources.count),
      drawn: 0, sourceCounts: sources.map(\.dataset.count), weights: sources.map(\.weight), shuffle: shuffle)
    try self.init(sources: sources, resuming: state)
  }

  /// Continues a stream from a saved `state`, with the same sources in the same order.
  public init(sources: [(dataset: JSONLDataset, weight: Double)], resuming state: State) throws(TrainingError) {
    guard !sources.isEmpty else { throw .invalidOption(name: "data", reason: "no data sources") }
    for source in sources {
      guard source.weight > 0 && source.weight.isFinite else {
        throw .invalidOption(
          name: "data", reason: "\(source.dataset.path): weight must be a positive number, not \(source.weight)")
      }
      guard !source.dataset.isEmpty else { throw .emptyDataset(path: source.dataset.path, reason: "no examples") }
    }
    let counts = sources.map(\.dataset.count)
    let weights = sources.map(\.weight)
    guard state.sourceCounts == counts, state.weights == weights, state.epochs.count == counts.count,
      state.positions.count == counts.count,
      zip(state.positions, counts).allSatisfy({ $0 >= 0 && $0 <= $1 })
    else {
      throw .checkpoint(
        path: sources.map(\.dataset.path).joined(separator: ", "),
        reason:
          "the saved data position is for sources of sizes \(state.sourceCounts) and weights \(state.weights), "
          + "not \(counts) and \(weights)")
    }
    self.datasets = sources.map(\.dataset)
    self.weights = weights
    var running = 0.0
    self.cumulative = weights.map {
      running += $0
      return running
    }
    self.state = state
    self.orders = []
    self.orders = counts.indices.map { order(source: $0, epoch: state.epochs[$0]) }
  }

  /// Source `source`'s example order in `epoch`: a seeded shuffle, or file order without shuffling.
  private func order(source: Int, epoch: Int) -> [Int32] {
    var order = (0..<Int32(datasets[source].count)).map { $0 }
    if state.shuffle {
      var random = DataRandom(seed: state.seed, stream: [UInt64(source), UInt64(epoch)])
      random.shuffle(&order)
    }
    return order
  }

  /// Picks the next (source, example index) and advances.
  public mutating func nextDraw() -> (source: Int, index: Int) {
    let total = cumulative[cumulative.count - 1]
    let point = state.picker.unit() * total
    var source = cumulative.count - 1
    for (index, bound) in cumulative.enumerated() where point < bound {
      source = index
      break
    }
    if state.positions[source] == datasets[source].count {
      state.epochs[source] += 1
      state.positions[source] = 0
      orders[source] = order(source: source, epoch: state.epochs[source])
    }
    let index = Int(orders[source][state.positions[source]])
    state.positions[source] += 1
    state.drawn += 1
    return (source, index)
  }

  /// The next example; never nil (the stream is endless).
  public mutating func next() -> TrainingExample? {
    let draw = nextDraw()
    return datasets[draw.source][draw.index]
  }
}
