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

  static func inferenceLoss(_ model: LanguageModel, _ row: TrainingGraph.Row, norms: SelectiveNorms?) throws -> Double {
    let session = try InferenceSession(model: model, capacity: 16, ledger: MemoryLedger())
    session.norms = norms
    var total = 0.0
    try session.forward(row.tokens, logits: .all) { i, logits in
      guard row.targets[i] >= 0 else { return }
      let m = Double(logits.max()!)
      total += m + log(logits.reduce(0.0) { $0 + exp(Double($1) - m) }) - Double(logits[Int(row.targets[i])])
    }
    return total
  }

  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"], [false, true])
  func normGradientsMatchFiniteDifferences(file: String, packed: Bool) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let set = try Self.perturbed(model)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, logitRows: 5, ledger: MemoryLedger())
    let row = TrainingGraphTests.row(model, packed: packed)
    set.parameters.zeroGradients()
    _ = try graph.accumulateGradients(row, method: set, lossScale: 1)
    var generator = SeededGenerator(seed: 4)
    var worst = 0.0
    let last = model.config.layerCount - 1
    for tensor in set.parameters.tensors
    where tensor.name.contains("layers.0.") || tensor.name.contains("layers.\(last).")
      || tensor.name == "model.norm.weight"
    {
      let error = try checkGradients(
        tensor.name, values: tensor.value, gradients: tensor.gradient, samples: 3, generator: &generator
      ) { try graph.loss(row, method: set).lossSum }
      worst = max(worst, error)
    }
    print("AdapterSelectiveTests \(file) packed=\(packed): worst relative gradient error \(worst)")
  }

  @Test func copiesStartAsTheBaseAndMergingEqualsApplying() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    let row = TrainingGraphTests.row(model, packed: false)
    let base = try Self.inferenceLoss(model, row, norms: nil)
    let fresh = try SelectiveNorms(model: model, ledger: MemoryLedger())
    #expect(try Self.inferenceLoss(model, row, norms: fresh) == base, "fresh copies are the base's own vectors")
    let set = try Self.perturbed(model)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, ledger: MemoryLedger())
    let trained = try graph.loss(row, method: set).lossSum
    let applied = try Self.inferenceLoss(model, row, norms: set)
    #expect(abs(trained - applied) < 1e-3 * abs(applied) && abs(applied - base) > 1e-3)
    #expect(try Self.inferenceLoss(model.replacingNorms(set), row, norms: nil) == applied)
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
