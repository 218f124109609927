import Foundation
import Memory
import Model
import Testing

@testable import Training

/// IA3: gradients of the scaling vectors by finite differences, training and inference in agreement, ones = base,
/// and the PEFT directory round trip.
@Suite struct AdapterIA3Tests {
  static let tiny = TrainingGraphTests.tiny

  static func randomSet(_ model: LanguageModel) throws -> IA3Set {
    let set = try IA3Set(model: model.config, ledger: MemoryLedger())
    var random = SeededGenerator(seed: 23)
    for tensor in set.parameters.tensors {
      for i in 0..<tensor.count { tensor.value[i] = Float(0.5 + random.nextUnit()) }
    }
    return set
  }

  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"], [false, true])
  func scalingGradientsMatchFiniteDifferences(file: String, packed: Bool) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let set = try Self.randomSet(model)
    let graph = try TrainingGraph(
      model: model, capacity: 16, maximumRank: 1, logitRows: 5, scalingVectors: true, ledger: MemoryLedger())
    let row = TrainingGraphTests.row(model, packed: packed)
    let tensors = set.parameters.tensors.filter { $0.name.contains("layers.0.") || $0.name.contains("layers.1.") }
    let worst = try checkMethodGradients(set, graph: graph, row: row, tensors: tensors, samples: 3, seed: 9)
    print("AdapterIA3Tests \(file) packed=\(packed): worst relative gradient error \(worst)")
  }

  @Test func trainingAndInferenceAgreeAndOnesAreTheBase() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    let row = TrainingGraphTests.row(model, packed: false)
    let graph = try TrainingGraph(
      model: model, capacity: 16, maximumRank: 1, scalingVectors: true, ledger: MemoryLedger())
    let random = try Self.randomSet(model)
    let trained = try graph.loss(row, method: random).lossSum
    #expect(abs(trained - (try inferenceLossSum(model, row, method: random))) < 1e-3 * abs(trained))
    let ones = try IA3Set(model: model.config, ledger: MemoryLedger())
    let base = try inferenceLossSum(model, row, method: nil)
    #expect(abs(try graph.loss(row, method: ones).lossSum - base) < 1e-4 * abs(base), "ones are the base model")
    #expect(abs(trained - base) > 1e-3)
  }

  /// Folding the vectors into the weights (rows of k and v with their biases, columns of down_proj) computes what
  /// applying them computes, on the model with q/k/v biases.
  @Test func mergingEqualsApplying() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    let row = TrainingGraphTests.row(model, packed: false)
    let graph = try TrainingGraph(
      model: model, capacity: 16, maximumRank: 1, scalingVectors: true, ledger: MemoryLedger())
    let set = try Self.randomSet(model)
    let applied = try graph.loss(row, method: set).lossSum
    let merged = model.mergingScalings(set)
    let mergedGraph = try TrainingGraph(model: merged, capacity: 16, maximumRank: 1, ledger: MemoryLedger())
    #expect(abs(try mergedGraph.loss(row, method: nil).lossSum - applied) < 1e-5 * abs(applied))
  }

  @Test func savedVectorsLoadBackInPEFTShapes() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let directory = try AdapterTestSupport.scratchDirectory("ia3")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let set = try Self.randomSet(model)
    try set.save(to: directory + "/a", baseModel: "base")
    let loaded = try #require(
      try AdapterLoader.load(from: directory + "/a", model: model.config, ledger: MemoryLedger()) as? IA3Set)
    let same = zip(loaded.parameters.tensors, set.parameters.tensors).allSatisfy { Array($0.value) == Array($1.value) }
    #expect(same, "loaded vectors differ from the saved ones")
    #expect(set.parameters[IA3Set.key(layer: 0, target: .k)]?.shape == [model.config.kvDim, 1])
    #expect(set.parameters[IA3Set.key(layer: 0, target: .down)]?.shape == [1, model.config.intermediateSize])
    let config = try TrainingJSON.read(IA3AdapterConfig.self, path: directory + "/a/adapter_config.json")
    #expect(config.peftType == "IA3" && config.feedforwardModules == .names(["down_proj"]))
    #expect(config.targetModules == .names(["k_proj", "v_proj", "down_proj"]))
  }
}
