import Foundation
import Memory
import Model
import Testing

@testable import Training

/// Selective tuning of whole layers (every matrix and norm of the last K): gradients by finite differences, the
/// fresh copies equal to the base, training and inference in agreement, the merged model equal to the applied result,
/// and the saved tensors' round trip.
@Suite struct AdapterSelectiveLayersTests {
  static let tiny = TrainingGraphTests.tiny

  static func perturbed(_ model: LanguageModel, count: Int) throws -> SelectiveLayers {
    let set = try SelectiveLayers(model: model, count: count, ledger: MemoryLedger())
    var random = SeededGenerator(seed: 41)
    for tensor in set.parameters.tensors {
      for i in 0..<tensor.count { tensor.value[i] *= Float(0.7 + 0.6 * random.nextUnit()) }
    }
    return set
  }

  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"], [false, true])
  func layerGradientsMatchFiniteDifferences(file: String, packed: Bool) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let set = try Self.perturbed(model, count: 1)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, logitRows: 5, ledger: MemoryLedger())
    let row = TrainingGraphTests.row(model, packed: packed)
    #expect(set.parameters.tensors.count == 9, "seven matrices and two norms of the last layer")
    let worst = try checkMethodGradients(
      set, graph: graph, row: row, tensors: set.parameters.tensors, samples: 3, seed: 5)
    print("AdapterSelectiveLayersTests \(file) packed=\(packed): worst relative gradient error \(worst)")
  }

  @Test func copiesStartAsTheBaseAndMergingEqualsApplying() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    let row = TrainingGraphTests.row(model, packed: false)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, ledger: MemoryLedger())
    let base = try inferenceLossSum(model, row, method: nil)
    let fresh = try SelectiveLayers(model: model, count: model.config.layerCount, ledger: MemoryLedger())
    #expect(abs(try graph.loss(row, method: fresh).lossSum - base) < 1e-4 * abs(base), "copies equal the base")

    let set = try Self.perturbed(model, count: 1)
    let trained = try graph.loss(row, method: set).lossSum
    #expect(abs(trained - base) > 1e-3, "the perturbed layer changes the loss")
    #expect(abs(trained - (try inferenceLossSum(model, row, method: set))) < 1e-4 * abs(trained))
    let merged = model.replacingNorms(set).replacingMatrices(set)
    let mergedGraph = try TrainingGraph(model: merged, capacity: 16, maximumRank: 1, ledger: MemoryLedger())
    #expect(abs(try mergedGraph.loss(row, method: nil).lossSum - trained) < 1e-5 * abs(trained))
  }

  @Test func savedLayersLoadBackAndOtherModelsAreRefused() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let directory = try AdapterTestSupport.scratchDirectory("layers")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let set = try Self.perturbed(model, count: 2)
    try set.save(to: directory + "/s", baseModel: "base")
    let loaded = try #require(
      try AdapterLoader.load(from: directory + "/s", model: model.config, ledger: MemoryLedger()) as? SelectiveLayers)
    #expect(loaded.count == 2 && Array(loaded.parameters.allValues) == Array(set.parameters.allValues))
    #expect(set.parameters["model.layers.1.mlp.down_proj.weight"]?.shape == [64, 96])
    let other = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    #expect(throws: TrainingError.self) {
      _ = try AdapterLoader.load(from: directory + "/s", model: other.config, ledger: MemoryLedger())
    }
    #expect(throws: TrainingError.self) { _ = try SelectiveLayers(model: model, count: 3, ledger: MemoryLedger()) }
  }

  /// The output head alone: gradients by finite differences through the cross-entropy path and through an
  /// objective's log-probabilities at a temperature; the copy equals the base; merging unties the head and equals
  /// applying it.
  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"])
  func headGradientsMatchFiniteDifferencesAndMergingUnties(file: String) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let head = try SelectiveHead(model: model, ledger: MemoryLedger())
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, logitRows: 5, ledger: MemoryLedger())
    let row = TrainingGraphTests.row(model, packed: true)
    let base = try graph.loss(row, method: nil).lossSum
    #expect(abs(try graph.loss(row, method: head).lossSum - base) < 1e-5 * abs(base), "the copy equals the base")
    var random = SeededGenerator(seed: 43)
    let tensor = head.parameters.tensors[0]
    for i in 0..<tensor.count { tensor.value[i] *= Float(0.7 + 0.6 * random.nextUnit()) }
    // The head's gradient is large only in the rows of the row's target tokens: enough samples to reach some.
    let worst = try checkMethodGradients(head, graph: graph, row: row, tensors: [tensor], samples: 24, seed: 8)
    print("AdapterSelectiveLayersTests head \(file): worst relative gradient error \(worst)")

    // Σ log p at temperature 0.7 through the objective head, weighted per position.
    let request = HeadRequest(logProbabilities: true, temperature: 0.7)
    let weights = row.targets.indices.map { Float($0 % 3) - 0.5 }
    func objective(_ out: HeadOutputs) -> Double {
      zip(out.logProbabilities, weights).reduce(0.0) { $0 + Double($1.0 * $1.1) }
    }
    head.parameters.zeroGradients()
    _ = try graph.evaluate(row, method: head, request: request) { _ in HeadGradients(logProbabilities: weights) }
    var generator = SeededGenerator(seed: 9)
    _ = try checkGradients(
      "head@T", values: tensor.value, gradients: tensor.gradient, samples: 6, generator: &generator
    ) { objective(try graph.evaluate(row, method: head, request: request)) }

    let merged = model.replacingMatrices(head)
    #expect(!merged.config.tiedEmbeddings)
    let applied = try graph.loss(row, method: head).lossSum
    let mergedGraph = try TrainingGraph(model: merged, capacity: 16, maximumRank: 1, ledger: MemoryLedger())
    #expect(abs(try mergedGraph.loss(row, method: nil).lossSum - applied) < 1e-5 * abs(applied))
    // The inference session has no packed rows: compare on a single sequence.
    let single = TrainingGraphTests.row(model, packed: false)
    let trained = try graph.loss(single, method: head).lossSum
    #expect(abs(trained - (try inferenceLossSum(model, single, method: head))) < 1e-4 * abs(trained))
  }
}
