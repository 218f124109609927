import Foundation
import Memory
import Model
import Testing

@testable import Training

/// PPO's arithmetic against direct formulas and finite differences (PPOGoldenTests holds it to the numpy reference,
/// PPOObjectiveTests drives the objective through the graph), and the saved policy's format.
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
