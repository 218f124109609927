import Foundation
import Memory
import Model
import Testing

@testable import Training

/// Selective tuning of the norm weights: gradients by finite differences, training and inference in agreement, the
/// initial copies equal to the base, the merged model equal to the applied result, and the saved tensors' round trip.
@Suite struct AdapterSelectiveTests {
  static let tiny = TrainingGraphTests.tiny

  static func perturbed(_ model: LanguageModel) throws -> SelectiveNorms {
    let set = try SelectiveNorms(model: model, ledger: MemoryLedger())
    var random = SeededGenerator(seed: 31)
    for tensor in set.parameters.tensors {
      for i in 0..<tensor.count { tensor.value[i] *= Float(0.7 + 0.6 * random.nextUnit()) }
    }
    return set
  }

  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"], [false, true])
  func normGradientsMatchFiniteDifferences(file: String, packed: Bool) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let set = try Self.perturbed(model)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, logitRows: 5, ledger: MemoryLedger())
    let row = TrainingGraphTests.row(model, packed: packed)
    let last = model.config.layerCount - 1
    let tensors = set.parameters.tensors.filter {
      $0.name.contains("layers.0.") || $0.name.contains("layers.\(last).") || $0.name == "model.norm.weight"
    }
    let worst = try checkMethodGradients(set, graph: graph, row: row, tensors: tensors, samples: 3, seed: 4)
    print("AdapterSelectiveTests \(file) packed=\(packed): worst relative gradient error \(worst)")
  }

  @Test func copiesStartAsTheBaseAndMergingEqualsApplying() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    let row = TrainingGraphTests.row(model, packed: false)
    let base = try inferenceLossSum(model, row, method: nil)
    let fresh = try SelectiveNorms(model: model, ledger: MemoryLedger())
    #expect(try inferenceLossSum(model, row, method: fresh) == base, "fresh copies are the base's own vectors")
    let set = try Self.perturbed(model)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, ledger: MemoryLedger())
    let trained = try graph.loss(row, method: set).lossSum
    let applied = try inferenceLossSum(model, row, method: set)
    #expect(abs(trained - applied) < 1e-3 * abs(applied) && abs(applied - base) > 1e-3)
    #expect(try inferenceLossSum(model.replacingNorms(set), row, method: nil) == applied)
  }

  @Test func savedNormsLoadBack() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let directory = try AdapterTestSupport.scratchDirectory("selective")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let set = try Self.perturbed(model)
    try set.save(to: directory + "/s", baseModel: "base")
    let loaded = try #require(
      try AdapterLoader.load(from: directory + "/s", model: model.config, ledger: MemoryLedger()) as? SelectiveNorms)
    #expect(zip(loaded.parameters.tensors, set.parameters.tensors).allSatisfy { Array($0.value) == Array($1.value) })
    #expect(
      set.parameters["model.layers.0.input_layernorm.weight"] != nil && set.parameters["model.norm.weight"] != nil)
  }
}
