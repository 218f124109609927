import Foundation
internal import Model

/// Supervised fine-tuning: mean next-token cross-entropy over the targeted tokens of `gradientAccumulation` packed
/// batches per step, held-out loss on a validation set.
public final class SupervisedObjective: TrainingObjective {
  public private(set) var stream: BatchStream
  public let validation: JSONLDataset?
  public let gradientAccumulation: Int
  /// The sources the stream samples, needed to rebuild it at a checkpoint's position.
  let sources: [(dataset: JSONLDataset, weight: Double)]
  /// Caps the examples of each periodic evaluation of a big validation set.
  public var evaluationLimit = 1000

  public init(
    stream: BatchStream, sources: [(dataset: JSONLDataset, weight: Double)], validation: JSONLDataset?,
    gradientAccumulation: Int = 1
  ) {
    self.stream = stream
    self.sources = sources
    self.validation = validation
    self.gradientAccumulation = max(1, gradientAccumulation)
  }

  public func accumulateStep(_ step: Int, graph: TrainingGraph, method: any TrainableMethod) throws -> ObjectiveStep {
    let batches = (0..<gradientAccumulation).map { _ in stream.next() }
    let targets = batches.reduce(0) { $0 + $1.targetCount }
    var lossSum = 0.0
    var tokens = 0
    guard targets > 0 else { return ObjectiveStep(loss: 0, counted: 0, tokens: 0) }
    let scale = Float(1 / Double(targets))
    for (micro, batch) in batches.enumerated() {
      for r in 0..<batch.batchSize {
        let rows = (r * batch.seqLen)..<((r + 1) * batch.seqLen)
        let row = TrainingGraph.Row(
          tokens: Array(batch.tokens[rows]), targets: Array(batch.targets[rows]),
          segmentStarts: Array(batch.segmentStarts[rows]),
          dropoutSeed: method.seed ^ (UInt64(step) &* 0x94D0_49BB_1331_11EB) ^ UInt64(micro * batch.batchSize + r))
        guard row.targets.contains(where: { $0 >= 0 }) else { continue }
        lossSum += try graph.accumulateGradients(row, method: method, lossScale: scale).lossSum
      }
      tokens += batch.tokens.count - batch.paddingCount
    }
    return ObjectiveStep(loss: lossSum / Double(targets), counted: targets, tokens: tokens)
  }

  public func evaluate(graph: TrainingGraph, method: any TrainableMethod) throws -> [String: Double]? {
    guard let validation else { return nil }
    let subset =
      validation.count > evaluationLimit ? validation.subset(Array(0..<evaluationLimit)) : validation
    return try DatasetLoss.mean(subset, graph: graph, method: method, paddingID: stream.packer.paddingID).map {
      ["loss": $0.loss]
    }
  }

  public var checkpointState: BatchStream.State { stream.state }

  public func restore(_ state: BatchStream.State) throws {
    stream = try BatchStream(packer: stream.packer, sources: sources, resuming: state)
  }
}
