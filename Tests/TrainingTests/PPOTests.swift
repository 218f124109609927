import Foundation
import Memory
import Model
import Testing

@testable import Training

/// PPO's arithmetic against direct formulas and finite differences, and its whole per-token loss (clipped policy
/// loss at a temperature plus the clipped value loss of the value head) through the graph by finite differences.
@Suite struct PPOTests {
  @Test func advantagesAreTheDiscountedSumOfTemporalDifferences() {
    let rewards = [0.1, -0.2, 0.05, 1.5]
    let values = [0.3, 0.1, -0.4, 0.2]
    let (gamma, lambda) = (0.9, 0.8)
    let (advantages, returns) = PPOMath.advantages(rewards: rewards, values: values, gamma: gamma, lambda: lambda)
    let deltas = rewards.indices.map { t in
      rewards[t] + gamma * (t + 1 < values.count ? values[t + 1] : 0) - values[t]
    }
    for t in rewards.indices {
      let direct = (t..<rewards.count).reduce(0.0) { $0 + pow(gamma * lambda, Double($1 - t)) * deltas[$1] }
      #expect(abs(advantages[t] - direct) < 1e-12)
      #expect(abs(returns[t] - (direct + values[t])) < 1e-12)
    }
  }

  @Test func whiteningCentresAndScalesAcrossSequences() {
    let whitened = PPOMath.whiten([[1, 2, 3], [10], [-4, 0]])
    let all = Array(whitened.joined())
    let mean = all.reduce(0, +) / Double(all.count)
    let variance = all.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(all.count - 1)
    #expect(abs(mean) < 1e-12)
    #expect(abs(variance - 1) < 1e-6)
    #expect(whitened.map(\.count) == [3, 1, 2])
  }

  /// Central differences of the clipped losses, away from the kinks, in each branch.
  @Test(arguments: [(-0.3, 1.2), (0.0, 1.2), (0.25, 1.2), (-0.3, -0.7), (0.0, -0.7), (0.25, -0.7)])
  func clippedPolicyLossGradient(shift: Double, advantage: Double) {
    let old = -2.0
    let h = 1e-6
    let f = { (x: Double) in PPOMath.policyLoss(logProbability: x, old: old, advantage: advantage, clip: 0.2).loss }
    let x = old + shift
    let numeric = (f(x + h) - f(x - h)) / (2 * h)
    let analytic = PPOMath.policyLoss(logProbability: x, old: old, advantage: advantage, clip: 0.2)
    #expect(abs(numeric - analytic.gradient) < 1e-6, "shift \(shift) advantage \(advantage)")
    // Clipped and flat exactly when the ratio left the range in the advantage's favour.
    let ratio = exp(shift)
    let flat = (advantage > 0 && ratio > 1.2) || (advantage < 0 && ratio < 0.8)
    #expect((analytic.gradient == 0) == flat)
  }

  @Test(arguments: [0.5, 0.05, -0.5], [1.0, -1.0])
  func clippedValueLossGradient(move: Double, target: Double) {
    let old = 0.3
    let h = 1e-6
    let f = { (v: Double) in PPOMath.valueLoss(value: v, old: old, target: target, clip: 0.2).loss }
    let v = old + move
    let numeric = (f(v + h) - f(v - h)) / (2 * h)
    #expect(abs(numeric - PPOMath.valueLoss(value: v, old: old, target: target, clip: 0.2).gradient) < 1e-6)
  }

  /// The minibatch loss of one rollout through the graph: Σ_k pg(log π_T(a_k)) + c·vf(v_k), with log π at
  /// temperature 0.7, old log-probabilities shifted from the current ones so the unclipped branch, the clipped flat
  /// branch and the ratio near 1 all occur, far from the kinks a finite difference could straddle (the branches
  /// themselves are checked alone above).
  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"])
  func ppoLossGradientsMatchFiniteDifferences(file: String) throws {
    let model = try LanguageModel(path: TrainingGraphTests.tiny.appendingPathComponent(file).path)
    let policy = try ValueHeadPolicy(
      config: try LoRAConfig(rank: 4, seed: 3), model: model.config, ledger: MemoryLedger())
    RLHFGradientTests.randomLoRA(policy.adapters)
    AdapterTestSupport.fill(policy.parameters[LoRAHeads.valueWeightKey]!.value, seed: 8)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 4, logitRows: 3, ledger: MemoryLedger())
    let tokens: [Int32] = [5, 77, 120, 33, 9, 250, 18, 64]
    let positions = [3, 4, 5, 6]
    var targets = [Int32](repeating: -1, count: tokens.count)
    for p in positions { targets[p] = tokens[p + 1] }
    let row = TrainingGraph.Row(tokens: tokens, targets: targets)
    let request = HeadRequest(
      logProbabilities: true, scalarHead: policy.valueHead, scalarPositions: positions, temperature: 0.7)
    let start = try graph.evaluate(row, method: policy, request: request)
    let shifts = [1.0, -0.01, 1.0, -1.0]
    let valueShifts = [0.01, -0.01, 0.02, -0.02]
    let old = positions.enumerated().map { Double(start.logProbabilities[$1]) + shifts[$0] }
    let oldValues = start.scalars.enumerated().map { Double($1) + valueShifts[$0] }
    let advantages = [1.0, -0.5, -1.2, 0.8]
    let returns = [0.4, -0.3, 1.1, 0.0]
    func loss(_ out: HeadOutputs) -> (Double, [Float], [Float]) {
      var total = 0.0
      var g = [Float](repeating: 0, count: tokens.count)
      var gv = [Float](repeating: 0, count: positions.count)
      for (k, p) in positions.enumerated() {
        let pg = PPOMath.policyLoss(
          logProbability: Double(out.logProbabilities[p]), old: old[k], advantage: advantages[k], clip: 0.2)
        let vf = PPOMath.valueLoss(value: Double(out.scalars[k]), old: oldValues[k], target: returns[k], clip: 0.2)
        total += pg.loss + 0.1 * vf.loss
        g[p] = Float(pg.gradient)
        gv[k] = Float(0.1 * vf.gradient)
      }
      return (total, g, gv)
    }
    policy.parameters.zeroGradients()
    _ = try graph.evaluate(row, method: policy, request: request) { out in
      let (_, g, gv) = loss(out)
      return HeadGradients(logProbabilities: g, scalars: gv)
    }
    var generator = SeededGenerator(seed: 12)
    var worst = 0.0
    let tensors = policy.parameters.tensors.filter {
      $0.name.contains("layers.0.") || $0.name.contains("layers.1.") || $0.name.hasPrefix("v_head")
    }
    for tensor in tensors {
      worst = max(
        worst,
        try checkGradients(
          tensor.name, values: tensor.value, gradients: tensor.gradient, samples: 3, generator: &generator
        ) { loss(try graph.evaluate(row, method: policy, request: request)).0 })
    }
    print("PPOTests \(file): worst relative gradient error \(worst)")
  }

  /// The saved policy is a plain PEFT LoRA adapter (generation loads it) with the value head beside it, and a
  /// checkpoint restores both.
  @Test func policySavesAsPlainLoRAWithItsValueHead() throws {
    let model = try LanguageModel(path: TrainingGraphTests.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let policy = try ValueHeadPolicy(
      config: try LoRAConfig(rank: 4, seed: 3), model: model.config, ledger: MemoryLedger())
    RLHFGradientTests.randomLoRA(policy.adapters)
    AdapterTestSupport.fill(policy.parameters[LoRAHeads.valueWeightKey]!.value, seed: 8)
    policy.parameters[LoRAHeads.valueBiasKey]!.value[0] = 0.25
    let directory = try AdapterTestSupport.scratchDirectory("ppo")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try policy.save(to: directory + "/p", baseModel: nil, overwrite: false)
    let plain = try #require(
      try AdapterLoader.load(from: directory + "/p", model: model.config, ledger: MemoryLedger()) as? LoRAAdapterSet)
    #expect(plain.parameters.tensors.count == policy.parameters.tensors.count - 2)
    let restored = try ValueHeadPolicy(
      config: try LoRAConfig(rank: 4, seed: 9), model: model.config, ledger: MemoryLedger())
    try restored.restoreValues(from: directory + "/p", ledger: MemoryLedger())
    #expect(Array(restored.parameters.allValues) == Array(policy.parameters.allValues))
  }
}
