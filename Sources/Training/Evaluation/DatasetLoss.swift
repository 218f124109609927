public import Model

/// Mean next-token loss of a dataset's targeted tokens, its examples packed into rows like training data (segment
/// boundaries keep them apart), through a `TrainingGraph` with or without LoRA parts.
public enum DatasetLoss {
  public static func mean(
    _ dataset: JSONLDataset, graph: TrainingGraph, adapter: (any LoRAProvider)?,
    virtual: (any VirtualTokenProvider)? = nil, paddingID: Int32
  ) throws -> (loss: Double, tokens: Int)? {
    var pass = DatasetPass(dataset)
    let packer = try SequencePacker(batchSize: 1, seqLen: graph.capacity, paddingID: paddingID)
    var lossSum = 0.0
    var counted = 0
    while let batch = packer.nextBatch(from: &pass) {
      let row = TrainingGraph.Row(tokens: batch.tokens, targets: batch.targets, segmentStarts: batch.segmentStarts)
      guard row.targets.contains(where: { $0 >= 0 }) else { continue }
      let (loss, count) = try graph.loss(row, lora: adapter, virtual: virtual)
      lossSum += loss
      counted += count
    }
    return counted > 0 ? (lossSum / Double(counted), counted) : nil
  }
}
