import Foundation
import Memory
import Model
import Testing

@testable import Training

/// The reward model's score head and ranking loss, DPO's sigmoid and IPO losses: analytic gradients through the
/// whole graph (LoRA matrices, the score head) against central finite differences of the same loss on a tiny model.
@Suite struct RLHFGradientTests {
  static let tiny = TrainingGraphTests.tiny

  /// A pair of short sequences sharing a prompt (tokens 0..<3), completions trained on.
  static func pair() -> PreferencePair {
    func example(_ tokens: [Int32]) -> TrainingExample {
      TrainingExample(tokens: tokens, lossMask: tokens.indices.map { $0 >= 3 })
    }
    return PreferencePair(
      chosen: example([5, 77, 120, 33, 9, 250, 18]), rejected: example([5, 77, 120, 64, 101, 7, 44, 200]), line: 1)
  }

  /// LoRA on q and v with B random (so the adapter changes the model) and A as initialized.
  static func randomLoRA(_ lora: LoRAAdapterSet) {
    for (i, tensor) in lora.parameters.tensors.enumerated() where tensor.name.hasSuffix("lora_B.weight") {
      AdapterTestSupport.fill(tensor.value, seed: 100 + UInt64(i))
      for j in 0..<tensor.count { tensor.value[j] *= 0.3 }
    }
  }

  static func checkedTensors(_ parameters: ParameterStore) -> [ParameterTensor] {
    parameters.tensors.filter {
      $0.name.contains("layers.0.") || $0.name.contains("layers.1.") || $0.name.contains("score")
    }
  }

  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"], [0.0, 0.5])
  func rewardLossGradientsMatchFiniteDifferences(file: String, margin: Double) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let reward = try RewardModel(config: try LoRAConfig(rank: 4, seed: 3), model: model.config, ledger: MemoryLedger())
    Self.randomLoRA(reward.adapters)
    AdapterTestSupport.fill(reward.parameters[LoRAHeads.scoreKey]!.value, seed: 77)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 4, logitRows: 5, ledger: MemoryLedger())
    let pair = PairRow(Self.pair())
    let request = HeadRequest(scalarHead: reward.scoreHead, scalarPositions: pair.lastPositions)
    func loss(_ out: HeadOutputs) -> (Double, Double, Double) {
      PreferenceLoss.reward(chosen: Double(out.scalars[0]), rejected: Double(out.scalars[1]), margin: margin)
    }
    reward.parameters.zeroGradients()
    _ = try graph.evaluate(pair.row, method: reward, request: request) { out in
      let l = loss(out)
      return HeadGradients(scalars: [Float(l.1), Float(l.2)])
    }
    var generator = SeededGenerator(seed: 5)
    var worst = 0.0
    for tensor in Self.checkedTensors(reward.parameters) {
      worst = max(
        worst,
        try checkGradients(
          tensor.name, values: tensor.value, gradients: tensor.gradient, samples: 3, generator: &generator
        ) { loss(try graph.evaluate(pair.row, method: reward, request: request)).0 })
    }
    print("RLHFGradientTests reward \(file) margin \(margin): worst relative gradient error \(worst)")
  }

  /// DPOObjective's own step (sigmoid or IPO, with RPO's chosen-NLL term) against finite differences of its own
  /// held-out loss on the same single pair: the objective's wiring of log-probabilities to gradients, not a copy.
  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"], PreferenceLoss.DPOKind.allCases)
  func dpoObjectiveGradientsMatchFiniteDifferences(file: String, kind: PreferenceLoss.DPOKind) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let lora = try LoRAAdapterSet(config: try LoRAConfig(rank: 4, seed: 3), model: model.config, ledger: MemoryLedger())
    Self.randomLoRA(lora)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 4, logitRows: 5, ledger: MemoryLedger())
    let data = PreferenceDataset(path: "pair", pairs: [Self.pair()])
    let objective = try DPOObjective(
      train: data, validation: data, pairsPerStep: 1, beta: 0.5, kind: kind, chosenNLLWeight: 0.5, seed: 1)
    lora.parameters.zeroGradients()
    let step = try objective.accumulateStep(0, graph: graph, method: lora)
    let heldOut = try #require(try objective.evaluate(graph: graph, method: lora)?["loss"])
    #expect(abs(step.loss - heldOut) < 1e-9, "the step's loss is the held-out loss of the same pair")
    var generator = SeededGenerator(seed: 6)
    var worst = 0.0
    for tensor in Self.checkedTensors(lora.parameters) {
      worst = max(
        worst,
        try checkGradients(
          tensor.name, values: tensor.value, gradients: tensor.gradient, samples: 3, generator: &generator
        ) { try objective.evaluate(graph: graph, method: lora)!["loss"]! })
    }
    print("RLHFGradientTests dpo \(kind) \(file): worst relative gradient error \(worst)")
  }

  /// RewardObjective's step against finite differences of its held-out loss on the same pair (margin 0.5).
  @Test func rewardObjectiveGradientsMatchFiniteDifferences() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    let reward = try RewardModel(config: try LoRAConfig(rank: 4, seed: 3), model: model.config, ledger: MemoryLedger())
    Self.randomLoRA(reward.adapters)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 4, logitRows: 5, ledger: MemoryLedger())
    let data = PreferenceDataset(path: "pair", pairs: [Self.pair()])
    let objective = try RewardObjective(train: data, validation: data, pairsPerStep: 1, margin: 0.5, seed: 1)
    reward.parameters.zeroGradients()
    _ = try objective.accumulateStep(0, graph: graph, method: reward)
    // One pair's loss is ~0.7, so its gradients are small against the check's absolute floor: both sides are scaled
    // by 100 so that the floor cannot be what passes them.
    let scale = 100.0
    var generator = SeededGenerator(seed: 7)
    for tensor in Self.checkedTensors(reward.parameters) {
      for i in tensor.gradient.indices { tensor.gradient[i] *= Float(scale) }
      _ = try checkGradients(
        tensor.name, values: tensor.value, gradients: tensor.gradient, samples: 3, generator: &generator
      ) { try scale * objective.evaluate(graph: graph, method: reward)!["loss"]! }
    }
  }

  /// The head's log-probabilities are the cross-entropy path's, token by token: their negated sum is the graph's
  /// own loss of the row, and the pair's two segments do not see each other (each scores as it does alone).
  @Test func logProbabilitiesAgreeWithTheLossAndSegmentsAreIndependent() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, logitRows: 3, ledger: MemoryLedger())
    let pair = PairRow(Self.pair())
    let out = try graph.evaluate(pair.row, method: nil, request: HeadRequest(logProbabilities: true, entropies: true))
    let total = out.logProbabilities.reduce(0.0) { $0 + Double($1) }
    let loss = try graph.loss(pair.row, lora: nil).lossSum
    #expect(abs(-total - loss) < 1e-4 * abs(loss))
    let alone = TrainingGraph.Row(tokens: Self.pair().rejected.tokens, targets: Self.pair().rejected.targets)
    let rejectedAlone = try graph.evaluate(alone, method: nil, request: HeadRequest(logProbabilities: true))
    for (i, t) in pair.rejected.enumerated() {
      #expect(abs(out.logProbabilities[t] - rejectedAlone.logProbabilities[i]) < 1e-4)
    }
    for t in pair.row.tokens.indices where pair.row.targets[t] >= 0 {
      #expect(out.entropies[t] > 0 && out.entropies[t] <= Float(log(Double(model.config.vocabularySize))) + 1e-4)
    }
  }

  @Test func dpoStartsAtLogTwoAndRewardModelsRoundTrip() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let lora = try LoRAAdapterSet(config: try LoRAConfig(rank: 4, seed: 3), model: model.config, ledger: MemoryLedger())
    let data = PreferenceDataset(path: "pairs", pairs: [Self.pair(), Self.pair()])
    let objective = try DPOObjective(
      train: data, validation: data, pairsPerStep: 2, beta: 0.1, kind: .sigmoid, seed: 1)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 4, logitRows: 5, ledger: MemoryLedger())
    let figures = try #require(try objective.evaluate(graph: graph, method: lora))
    #expect(abs(figures["loss"]! - log(2.0)) < 1e-6, "B = 0: the policy is the reference")

    let directory = try AdapterTestSupport.scratchDirectory("reward")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let reward = try RewardModel(config: try LoRAConfig(rank: 4, seed: 3), model: model.config, ledger: MemoryLedger())
    Self.randomLoRA(reward.adapters)
    try reward.save(to: directory + "/rm", baseModel: nil, overwrite: false)
    let loaded = try RewardModel.load(from: directory + "/rm", model: model.config, ledger: MemoryLedger())
    let tokens = Self.pair().chosen.tokens
    #expect(try loaded.score(tokens, graph: graph) == (try reward.score(tokens, graph: graph)))
    let config = try TrainingJSON.read(LoRAAdapterConfig.self, path: directory + "/rm/adapter_config.json")
    #expect(config.taskType == "SEQ_CLS" && config.modulesToSave == ["score"])
    #expect(throws: TrainingError.self) {
      _ = try LoRAAdapterSet.load(from: directory + "/rm", model: model.config, ledger: MemoryLedger())
    }
    try lora.save(to: directory + "/plain", baseModel: nil, overwrite: false)
    #expect(throws: TrainingError.self) {
      _ = try RewardModel.load(from: directory + "/plain", model: model.config, ledger: MemoryLedger())
    }
  }
}
