import Formats
import Foundation
import Memory
import Model
import Testing

@testable import Training

/// DoRA: the magnitude, A and B gradients by finite differences through the whole graph (the norm's own gradient
/// included), training and inference in agreement, a fresh set equal to the base, merging equal to applying, both
/// activation modes equal, and the PEFT directory round trip with PEFT's magnitude key.
@Suite struct AdapterDoRATests {
  static let tiny = TrainingGraphTests.tiny

  /// A DoRA set on every projection with B and the magnitudes moved away from their start (B = 0, m = ‖W‖), so the
  /// norm depends on B·A and the layer does not reduce to the base.
  static func movedSet(_ model: LanguageModel, rank: Int = 4) throws -> LoRAAdapterSet {
    let config = try LoRAConfig(
      rank: rank, alpha: Double(4 * rank), targets: ProjectionTarget.allCases, useDoRA: true, seed: 3)
    let set = try LoRAAdapterSet(config: config, model: model.config, ledger: MemoryLedger())
    try set.attach(to: model, initializeMagnitudes: true, ledger: MemoryLedger())
    var random = SeededGenerator(seed: 41)
    for tensor in set.parameters.tensors {
      if tensor.name.hasSuffix("lora_B.weight") {
        for i in 0..<tensor.count { tensor.value[i] = Float(random.nextUnit() - 0.5) * 0.2 }
      } else if tensor.name.hasSuffix("lora_magnitude_vector") {
        for i in 0..<tensor.count { tensor.value[i] *= Float(0.7 + 0.6 * random.nextUnit()) }
      }
    }
    return set
  }

  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"], [false, true])
  func gradientsMatchFiniteDifferences(file: String, packed: Bool) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let set = try Self.movedSet(model)
    let graph = try TrainingGraph(
      model: model, capacity: 16, maximumRank: 4, logitRows: 5, dora: true, ledger: MemoryLedger())
    let row = TrainingGraphTests.row(model, packed: packed)
    let tensors = set.parameters.tensors.filter { $0.name.contains("layers.0.") || $0.name.contains("layers.1.") }
    #expect(tensors.contains { $0.name.hasSuffix("lora_magnitude_vector") })
    let worst = try checkMethodGradients(set, graph: graph, row: row, tensors: tensors, samples: 3, seed: 9)
    print("AdapterDoRATests \(file) packed=\(packed): worst relative gradient error \(worst)")
    // The check's absolute floor (2e-3) must not be what passes it: each kind of tensor has gradients well above it.
    for suffix in ["lora_A.weight", "lora_B.weight", "lora_magnitude_vector"] {
      let largest = tensors.filter { $0.name.hasSuffix(suffix) }.map { $0.gradient.map(abs).max() ?? 0 }.max() ?? 0
      #expect(largest > 5e-2, "\(suffix): the largest gradient is only \(largest)")
    }
  }

  @Test func trainingAndInferenceAgreeAndAFreshSetIsTheBase() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let row = TrainingGraphTests.row(model, packed: false)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 4, dora: true, ledger: MemoryLedger())
    let moved = try Self.movedSet(model)
    let trained = try graph.loss(row, method: moved).lossSum
    #expect(abs(trained - (try inferenceLossSum(model, row, method: moved))) < 1e-4 * abs(trained))
    let config = try LoRAConfig(rank: 4, targets: ProjectionTarget.allCases, useDoRA: true)
    let fresh = try LoRAAdapterSet(config: config, model: model.config, ledger: MemoryLedger())
    try fresh.attach(to: model, initializeMagnitudes: true, ledger: MemoryLedger())
    let base = try inferenceLossSum(model, row, method: nil)
    #expect(abs(try graph.loss(row, method: fresh).lossSum - base) < 1e-4 * abs(base), "a fresh set is the base")
    #expect(abs(trained - base) > 1e-2)
  }

  @Test func mergingEqualsApplying() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    let row = TrainingGraphTests.row(model, packed: false)
    let set = try Self.movedSet(model)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 4, dora: true, ledger: MemoryLedger())
    let applied = try graph.loss(row, method: set).lossSum
    let merged = model.merging(set)
    let mergedGraph = try TrainingGraph(model: merged, capacity: 16, maximumRank: 1, ledger: MemoryLedger())
    #expect(abs(try mergedGraph.loss(row, method: nil).lossSum - applied) < 1e-4 * abs(applied))
  }

  @Test func storedActivationsGiveTheSameGradients() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let row = TrainingGraphTests.row(model, packed: true)
    let set = try Self.movedSet(model)
    var gradients: [[Float]] = []
    for stores in [false, true] {
      let graph = try TrainingGraph(
        model: model, capacity: 16, maximumRank: 4, storesActivations: stores, dora: true, ledger: MemoryLedger())
      set.parameters.zeroGradients()
      _ = try graph.accumulateGradients(row, method: set, lossScale: 1)
      gradients.append(Array(set.parameters.allGradients))
    }
    #expect(gradients[0] == gradients[1])
  }

  @Test func savedSetLoadsBackWithPEFTKeys() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let directory = try AdapterTestSupport.scratchDirectory("dora")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let set = try Self.movedSet(model)
    try set.save(to: directory + "/a", baseModel: "base")
    #expect(try TrainingJSON.read(LoRAAdapterConfig.self, path: directory + "/a/adapter_config.json").useDoRA)
    let file = try SafetensorsFile(path: directory + "/a/adapter_model.safetensors")
    let key = "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"
    #expect(file.entry(key)?.shape == [model.config.queryDim])
    let loaded = try #require(
      try AdapterLoader.load(from: directory + "/a", model: model, ledger: MemoryLedger()) as? LoRAAdapterSet)
    #expect(loaded.config.useDoRA)
    #expect(Array(loaded.parameters.allValues) == Array(set.parameters.allValues))
    let row = TrainingGraphTests.row(model, packed: false)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 4, dora: true, ledger: MemoryLedger())
    #expect(try graph.loss(row, method: loaded).lossSum == (try graph.loss(row, method: set).lossSum))
  }

  @Test func aGraphWithoutRoomForDoRARefusesIt() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 4, ledger: MemoryLedger())
    #expect(throws: TrainingError.self) {
      try graph.loss(TrainingGraphTests.row(model, packed: false), method: try Self.movedSet(model))
    }
  }
}
