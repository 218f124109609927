import Foundation
import Memory
import Model
import Tensor
import Testing

@testable import Training

/// Bottleneck adapters: gradients of every adapter tensor by finite differences, training and inference paths in
/// agreement, the zero-initialized start equal to the base, the saved directory's round trip and bad options.
@Suite struct AdapterBottleneckTests {
  static let tiny = TrainingGraphTests.tiny

  /// A Houlsby set with every tensor random (W_up too, so that every gradient is non-zero).
  static func randomSet(_ model: LanguageModel, activation: BottleneckActivation) throws -> BottleneckAdapterSet {
    let set = try BottleneckAdapterSet(
      config: BottleneckConfig(architecture: .houlsby, reductionFactor: 4, activation: activation, seed: 3),
      model: model.config, ledger: MemoryLedger())
    var random = SeededGenerator(seed: 17)
    for tensor in set.parameters.tensors {
      for i in 0..<tensor.count { tensor.value[i] = Float(random.nextUnit() - 0.5) * 0.4 }
    }
    return set
  }

  /// SiLU on both tiny models; ReLU on one: central differences straddle ReLU's kink wherever a pre-activation lies
  /// within ε of zero, which happens for one sampled entry on the Qwen2 model (numeric 0.35 vs analytic 0.29), a
  /// property of the check, not of the gradient; the ReLU derivative is the same code path with a step instead.
  @Test(
    arguments: [("llama-mixed.tiny-gguf", .silu), ("qwen2-hf", .silu), ("llama-mixed.tiny-gguf", .relu)]
      as [(String, BottleneckActivation)])
  func adapterGradientsMatchFiniteDifferences(file: String, activation: BottleneckActivation) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let set = try Self.randomSet(model, activation: activation)
    let graph = try TrainingGraph(
      model: model, capacity: 16, maximumRank: 1, logitRows: 5, maximumBottleneck: set.size, ledger: MemoryLedger())
    let row = TrainingGraphTests.row(model, packed: true)
    // Every kind of tensor (down/up weight and bias) at both placements of the first two layers.
    let tensors = set.parameters.tensors.filter { $0.name.contains("layers.0.") || $0.name.contains("layers.1.") }
    let worst = try checkMethodGradients(set, graph: graph, row: row, tensors: tensors, samples: 2, seed: 5)
    print("AdapterBottleneckTests \(file) \(activation): worst relative gradient error \(worst)")
  }

  @Test func trainingAndInferenceAgreeAndTheInitialAdapterIsTheBase() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let row = TrainingGraphTests.row(model, packed: false)
    let random = try Self.randomSet(model, activation: .silu)
    let graph = try TrainingGraph(
      model: model, capacity: 16, maximumRank: 1, maximumBottleneck: random.size, ledger: MemoryLedger())
    let trained = try graph.loss(row, method: random).lossSum
    let reference = try inferenceLossSum(model, row, method: random)
    #expect(abs(trained - reference) < 1e-3 * abs(reference), "\(trained) vs \(reference)")
    let base = try inferenceLossSum(model, row, method: nil)
    #expect(abs(trained - base) > 1e-3, "random adapters should change the loss")
    let fresh = try BottleneckAdapterSet(
      config: BottleneckConfig(architecture: .houlsby), model: model.config, ledger: MemoryLedger())
    #expect(abs(try graph.loss(row, method: fresh).lossSum - base) < 1e-4 * abs(base), "W_up = 0 is the base")
  }

  @Test func savedAdaptersLoadBackAndRefuseMismatches() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let directory = try AdapterTestSupport.scratchDirectory("bottleneck")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let set = try Self.randomSet(model, activation: .relu)
    try set.save(to: directory + "/a", baseModel: "base")
    let loaded = try #require(
      try AdapterLoader.load(from: directory + "/a", model: model.config, ledger: MemoryLedger())
        as? BottleneckAdapterSet)
    #expect(Array(loaded.parameters.allValues) == Array(set.parameters.allValues))
    #expect(loaded.config.architecture == .houlsby && loaded.config.reductionFactor == 4)
    let config = try TrainingJSON.read(BottleneckAdapterConfig.self, path: directory + "/a/adapter_config.json")
    #expect(config.mhAdapter == true && config.outputAdapter == true && config.peftType == "BOTTLENECK")
    let pfeiffer = try BottleneckAdapterSet(
      config: BottleneckConfig(architecture: .pfeiffer, reductionFactor: 4), model: model.config, ledger: MemoryLedger()
    )
    #expect(throws: TrainingError.self) { try pfeiffer.restoreValues(from: directory + "/a", ledger: MemoryLedger()) }
    #expect(throws: TrainingError.self) {
      _ = try LoRAAdapterSet.load(from: directory + "/a", model: model.config, ledger: MemoryLedger())
    }
  }

  @Test func aReductionFactorThatDoesNotDivideTheHiddenSizeIsRefused() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let hidden = model.config.hiddenSize
    let bad = (2...hidden).first { hidden % $0 != 0 }!
    #expect {
      _ = try BottleneckAdapterSet(
        config: BottleneckConfig(reductionFactor: bad), model: model.config, ledger: MemoryLedger())
    } throws: { "\($0)".contains("does not divide the hidden size \(hidden)") }
  }
}
