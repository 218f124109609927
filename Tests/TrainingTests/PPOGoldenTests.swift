import Foundation
import Testing

@testable import Training

/// PPO's batch arithmetic and minibatch loss, as `PPOObjective` runs them, against Tools/reference/ppo_reference.py
/// (float64 numpy written from TRL's PPOTrainer, its gradients checked there by finite differences): per-token
/// rewards, GAE advantages and returns, whitening over the batch, the batch figures, and each minibatch's clipped
/// losses, clip fraction, approximate KL and per-token gradients. The inputs make every branch occur.
@Suite struct PPOGoldenTests {
  struct Golden: Decodable {
    struct Options: Decodable {
      var klCoef, gamma, lambda, clip, valueClip, vfCoef: Double
    }
    struct RolloutCase: Decodable {
      var oldLogProbabilities, referenceLogProbabilities, oldValues: [Double]
      var score: Double
      var newLogProbabilities, newValues: [Double]
      var rewards, advantages, returns, whitened: [Double]
      var kl: Double
    }
    struct Batch: Decodable {
      var kl, nonScoreReward, score: Double
    }
    struct Minibatch: Decodable {
      var members: [Int]
      var loss, policyLoss, valueLoss, clipFraction, approxKl: Double
      var logProbabilityGradients, valueGradients: [Double]
    }
    var options: Options
    var rollouts: [RolloutCase]
    var batch: Batch
    var minibatches: [Minibatch]
  }

  static let golden: Golden = {
    let url = AdapterFixtureTests.fixtures.appendingPathComponent("ppo_golden.json")
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    // A missing or malformed golden is a broken checkout: stop with the decoder's message.
    return try! decoder.decode(Golden.self, from: Data(contentsOf: url))
  }()

  static var options: PPOOptions {
    let o = golden.options
    var options = PPOOptions()
    (options.klCoefficient, options.gamma, options.lambda) = (o.klCoef, o.gamma, o.lambda)
    (options.clip, options.valueClip, options.valueCoefficient) = (o.clip, o.valueClip, o.vfCoef)
    return options
  }

  /// The golden's rollouts as sampled ones: their tokens do not matter to the arithmetic, only the figures.
  static func rollouts() -> [Rollout] {
    golden.rollouts.map { r in
      let n = r.oldLogProbabilities.count
      return Rollout(
        row: TrainingGraph.Row(
          tokens: [Int32](repeating: 1, count: n + 1), targets: [Int32](repeating: 1, count: n + 1)),
        positions: Array(0..<n), answer: [Int32](repeating: 1, count: n), stopped: true,
        oldLogProbabilities: r.oldLogProbabilities, referenceLogProbabilities: r.referenceLogProbabilities,
        oldValues: r.oldValues, entropies: [Double](repeating: 0, count: n), score: r.score)
    }
  }

  /// Relative to the larger magnitude, with an absolute floor at float64 rounding of sums near zero.
  static func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * max(1, abs(a), abs(b)) }

  static func expectClose(_ actual: [Double], _ expected: [Double], _ what: String) {
    #expect(actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)")
    for (k, (a, e)) in zip(actual, expected).enumerated() {
      #expect(close(a, e), "\(what)[\(k)]: \(a), reference \(e)")
    }
  }

  @Test func rewardsAdvantagesReturnsAndWhiteningMatchTheReference() throws {
    var batch = Self.rollouts()
    PPOObjective.computeAdvantages(&batch, options: Self.options)
    for (i, (rollout, expected)) in zip(batch, Self.golden.rollouts).enumerated() {
      Self.expectClose(rollout.rewards(klCoefficient: Self.options.klCoefficient), expected.rewards, "rewards \(i)")
      Self.expectClose(rollout.returns, expected.returns, "returns \(i)")
      Self.expectClose(zip(rollout.returns, rollout.oldValues).map { $0 - $1 }, expected.advantages, "advantages \(i)")
      Self.expectClose(rollout.advantages, expected.whitened, "whitened advantages \(i)")
      #expect(Self.close(rollout.kl, expected.kl), "kl \(i): \(rollout.kl), reference \(expected.kl)")
    }
    let figures = PPOObjective.figures(batch, klCoefficient: Self.options.klCoefficient)
    let b = Self.golden.batch
    for (key, expected) in ["kl": b.kl, "non_score_reward": b.nonScoreReward, "score": b.score] {
      let actual = try #require(figures[key])
      #expect(Self.close(actual, expected), "\(key): \(actual), reference \(expected)")
    }
  }

  @Test func minibatchLossesAndGradientsMatchTheReference() throws {
    var batch = Self.rollouts()
    PPOObjective.computeAdvantages(&batch, options: Self.options)
    for minibatch in Self.golden.minibatches {
      let tokens = minibatch.members.reduce(0) { $0 + batch[$1].answer.count }
      var sum = PPOLossSum(tokens: tokens, options: Self.options)
      var logProbabilityGradients: [Double] = []
      var valueGradients: [Double] = []
      for i in minibatch.members {
        let g = Self.golden.rollouts[i]
        let d = sum.add(batch[i], logProbabilities: g.newLogProbabilities, values: g.newValues)
        logProbabilityGradients += d.logProbabilities
        valueGradients += d.values
      }
      let what = "minibatch \(minibatch.members)"
      #expect(Self.close(sum.loss, minibatch.loss), "\(what) loss: \(sum.loss), reference \(minibatch.loss)")
      let expected = [
        "policy_loss": minibatch.policyLoss, "value_loss": minibatch.valueLoss,
        "clip_fraction": minibatch.clipFraction, "approx_kl": minibatch.approxKl,
      ]
      for (key, value) in expected {
        let actual = try #require(sum.metrics[key])
        #expect(Self.close(actual, value), "\(what) \(key): \(actual), reference \(value)")
      }
      Self.expectClose(logProbabilityGradients, minibatch.logProbabilityGradients, "\(what) d/dlogp")
      Self.expectClose(valueGradients, minibatch.valueGradients, "\(what) d/dv")
    }
  }
}
