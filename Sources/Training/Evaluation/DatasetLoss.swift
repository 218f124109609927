internal import Model

/// Mean next-token loss of a dataset's targeted tokens, its examples packed into rows like training data (segment
/// boundaries keep them apart), through a `TrainingGraph` with or without a method's trainable parts.
public enum DatasetLoss {
  public static func mean(
    _ dataset: JSONLDataset, graph: TrainingGraph, method: (any TrainableMethod)?, paddingID: Int32
  ) throws -> (loss: Double, tokens: Int)? {
    var pass = DatasetPass(dataset)
    let packer = try SequencePacker(batchSize: 1, seqLen: graph.capacity, paddingID: paddingID)
    var lossSum = 0.0
    var counted = 0
    while let batch = packer.nextBatch(from: &pass) {
      let row = TrainingGraph.Row(tokens: batch.tokens, targets: batch.targets, segmentStarts: batch.segmentStarts)
      guard row.targets.contains(where: { $0 >= 0 }) else { continue }
      let (loss, count) = try graph.loss(row, method: method)
      lossSum += loss
      counted += count
    }
    return counted > 0 ? (lossSum / Double(counted), counted) : nil
  }
}
