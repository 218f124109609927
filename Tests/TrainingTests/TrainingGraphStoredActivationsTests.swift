import Foundation
import Memory
import Model
import Testing

@testable import Training

/// Without checkpointing (every layer's activations kept from the forward) the graph must compute exactly what the
/// checkpointed graph computes by recomputing: same loss, bit-identical gradients, for every kind of hook that saves
/// activations (LoRA with dropout, bottleneck adapters, IA3 scalings) and on packed rows.
@Suite struct TrainingGraphStoredActivationsTests {
  static let tiny = TrainingGraphTests.tiny

  static func graphs(_ model: LanguageModel, rank: Int = 3, dropout: Float = 0, bottleneck: Int = 0, ia3: Bool = false)
    throws -> (checkpointed: TrainingGraph, stored: TrainingGraph)
  {
    func make(_ stores: Bool) throws -> TrainingGraph {
      try TrainingGraph(
        model: model, capacity: 16, maximumRank: rank, logitRows: 5, dropout: dropout, maximumBottleneck: bottleneck,
        scalingVectors: ia3, storesActivations: stores, ledger: MemoryLedger())
    }
    return (try make(false), try make(true))
  }

  /// Runs `accumulate` through each graph with zeroed gradients and returns (loss, every gradient value).
  static func compare(
    _ graphs: (checkpointed: TrainingGraph, stored: TrainingGraph), gradients: () -> [Float], zero: () -> Void,
    accumulate: (TrainingGraph) throws -> Double
  ) rethrows {
    zero()
    let lossCheckpointed = try accumulate(graphs.checkpointed)
    let expected = gradients()
    zero()
    let lossStored = try accumulate(graphs.stored)
    let actual = gradients()
    #expect(lossStored == lossCheckpointed)
    #expect(expected.count == actual.count && expected.contains { $0 != 0 })
    #expect(actual == expected, "gradients differ without checkpointing")
  }

  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"])
  func loraWithDropoutOnPackedRows(file: String) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let lora = ArrayLoRA(config: model.config, targets: ProjectionTarget.allCases, rank: 3, scale: 1.5, seed: 11)
    var row = TrainingGraphTests.row(model, packed: true)
    row.dropoutSeed = 42
    let pairs = lora.pairs.keys.sorted().map { lora.pairs[$0]! }
    try Self.compare(
      try Self.graphs(model, dropout: 0.3),
      gradients: { pairs.flatMap { Array($0.gradA) + Array($0.gradB) } },
      zero: {
        for pair in pairs {
          pair.gradA.update(repeating: 0)
          pair.gradB.update(repeating: 0)
        }
      },
      accumulate: { try $0.accumulateGradients(row, lora: lora, lossScale: 1).lossSum })
  }

  @Test func bottleneckAdapters() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    let set = try AdapterBottleneckTests.randomSet(model, activation: .relu)
    let row = TrainingGraphTests.row(model, packed: true)
    try Self.compare(
      try Self.graphs(model, bottleneck: set.maximumBottleneck), gradients: { Self.gradients(set) },
      zero: { set.parameters.zeroGradients() },
      accumulate: { try $0.accumulateGradients(row, method: set, lossScale: 1).lossSum })
  }

  @Test func ia3Scalings() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let set = try AdapterIA3Tests.randomSet(model)
    let row = TrainingGraphTests.row(model, packed: false)
    try Self.compare(
      try Self.graphs(model, ia3: true), gradients: { Self.gradients(set) }, zero: { set.parameters.zeroGradients() },
      accumulate: { try $0.accumulateGradients(row, method: set, lossScale: 1).lossSum })
  }

  static func gradients(_ method: any TrainableMethod) -> [Float] {
    method.parameters.tensors.flatMap { Array($0.gradient) }
  }

  /// The plan counts one activation set per layer without checkpointing, and the graph reserves what it plans.
  @Test func plannedBytesMatchTheLedger() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    for stores in [false, true] {
      let ledger = MemoryLedger()
      let graph = try TrainingGraph(
        model: model, capacity: 16, maximumRank: 3, logitRows: 5, storesActivations: stores, ledger: ledger)
      let planned = TrainingGraph.plannedBytes(
        config: model.config, capacity: 16, rank: 3, logitRows: 5, workers: graph.workers,
        storesActivations: stores)
      for label in ["checkpoints", "activations", "gradients", "logits"] {
        let reserved = ledger.snapshot().currentByLabel[label, default: 0]
        // Each buffer rounds up to whole pages; the plan counts bytes.
        #expect(reserved >= planned[label]! && reserved - planned[label]! <= 32 * 4096, "\(label) stores=\(stores)")
      }
      withExtendedLifetime(graph) {}
    }
  }
}
