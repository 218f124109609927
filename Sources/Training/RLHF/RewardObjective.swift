import Foundation
internal import Model

/// Trains a `RewardModel` on preference pairs: per step, `pairsPerStep` pairs each scored in one row (chosen and
/// rejected as two segments), loss −log σ(r_c − r_r − margin) averaged over the pairs; held-out pairwise accuracy
/// (r_c > r_r) and mean margin.
public final class RewardObjective: TrainingObjective {
  public let train: PreferenceDataset
  public let validation: PreferenceDataset?
  public let pairsPerStep: Int
  public let margin: Double
  var schedule: PairSchedule
  /// Caps the pairs of each periodic evaluation.
  public var evaluationLimit = 1000

  public init(
    train: PreferenceDataset, validation: PreferenceDataset?, pairsPerStep: Int, margin: Double = 0, seed: UInt64
  ) throws {
    guard train.count > 0 else {
      throw TrainingError.invalidOption(name: "data", reason: "\(train.path) has no usable preference pair")
    }
    self.train = train
    self.validation = validation
    self.pairsPerStep = max(1, pairsPerStep)
    self.margin = margin
    self.schedule = PairSchedule(count: train.count, seed: seed)
  }

  static func model(_ method: any TrainableMethod) throws -> RewardModel {
    guard let reward = method as? RewardModel else {
      throw TrainingError.invalidOption(name: "method", reason: "a reward objective trains a reward model")
    }
    return reward
  }

  public func accumulateStep(_ step: Int, graph: TrainingGraph, method: any TrainableMethod) throws -> ObjectiveStep {
    let reward = try Self.model(method)
    var lossSum = 0.0
    var correct = 0
    var marginSum = 0.0
    var tokens = 0
    let scale = 1 / Double(pairsPerStep)
    for k in 0..<pairsPerStep {
      let pair = PairRow(
        train[schedule.next()], dropoutSeed: method.seed ^ (UInt64(step) &* 0x94D0_49BB_1331_11EB) ^ UInt64(k))
      tokens += pair.row.tokens.count
      _ = try graph.evaluate(
        pair.row, method: reward,
        request: HeadRequest(scalarHead: reward.scoreHead, scalarPositions: pair.lastPositions)
      ) { out in
        let (chosen, rejected) = (Double(out.scalars[0]), Double(out.scalars[1]))
        let l = PreferenceLoss.reward(chosen: chosen, rejected: rejected, margin: self.margin)
        lossSum += l.loss
        marginSum += chosen - rejected
        if chosen > rejected { correct += 1 }
        return HeadGradients(scalars: [Float(l.chosenGradient * scale), Float(l.rejectedGradient * scale)])
      }
    }
    let n = Double(pairsPerStep)
    return ObjectiveStep(
      loss: lossSum / n, counted: pairsPerStep, tokens: tokens,
      metrics: ["accuracy": Double(correct) / n, "margin": marginSum / n])
  }

  public func evaluate(graph: TrainingGraph, method: any TrainableMethod) throws -> [String: Double]? {
    guard let validation, validation.count > 0 else { return nil }
    return try Self.evaluate(
      validation, limit: evaluationLimit, reward: try Self.model(method), graph: graph, margin: margin
    ).figures
  }

  /// Held-out pairwise figures of a reward model: loss, accuracy (r_c > r_r), mean margin r_c − r_r, mean rewards.
  public static func evaluate(
    _ pairs: PreferenceDataset, limit: Int = .max, reward: RewardModel, graph: TrainingGraph, margin: Double = 0,
    progress: ((Int) -> Void)? = nil
  ) throws -> PairwiseFigures {
    var figures = PairwiseFigures()
    for i in 0..<min(limit, pairs.count) {
      let pair = PairRow(pairs[i])
      let out = try graph.evaluate(
        pair.row, method: reward,
        request: HeadRequest(scalarHead: reward.scoreHead, scalarPositions: pair.lastPositions))
      let (chosen, rejected) = (Double(out.scalars[0]), Double(out.scalars[1]))
      figures.add(
        chosen: chosen, rejected: rejected,
        loss: PreferenceLoss.reward(chosen: chosen, rejected: rejected, margin: margin).loss)
      progress?(i + 1)
    }
    return figures
  }

  public var checkpointState: PairSchedule { schedule }

  public func restore(_ state: PairSchedule) throws {
    schedule = try state.checked(pairs: train.count)
  }
}

/// Sums over held-out pairs of two scores (rewards, or DPO's implicit rewards) and their loss.
public struct PairwiseFigures: Sendable {
  public var pairs = 0
  public var correct = 0
  public var lossSum = 0.0
  public var chosenSum = 0.0
  public var rejectedSum = 0.0

  public init() {}

  mutating func add(chosen: Double, rejected: Double, loss: Double) {
    pairs += 1
    if chosen > rejected { correct += 1 }
    lossSum += loss
    chosenSum += chosen
    rejectedSum += rejected
  }

  public var accuracy: Double { pairs > 0 ? Double(correct) / Double(pairs) : 0 }
  public var meanMargin: Double { pairs > 0 ? (chosenSum - rejectedSum) / Double(pairs) : 0 }

  /// "loss", "accuracy", "margin", "chosen", "rejected", "pairs".
  public var figures: [String: Double] {
    let n = Double(max(pairs, 1))
    return [
      "loss": lossSum / n, "accuracy": accuracy, "margin": meanMargin, "chosen": chosenSum / n,
      "rejected": rejectedSum / n, "pairs": Double(pairs),
    ]
  }
}
