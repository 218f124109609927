import Foundation
internal import Model

/// Direct preference optimization of any method on preference pairs: the policy is the base with the method's
/// parts, the reference the same base with them switched off (no second model, no copy). Per pair, one row holds
/// chosen and rejected; h = (π_c − ρ_c) − (π_r − ρ_r) with π, ρ the completions' summed log-probabilities under policy
/// and reference (IPO: averaged per token). Reference log-probabilities are computed on a pair's first visit and kept
/// (four numbers a pair), so later epochs cost only the policy's pass. Implicit rewards β(π − ρ) give the accuracy
/// and margins TRL reports.
/// ref: Rafailov et al. 2023 (DPO); Azar et al. 2023 (IPO); TRL DPOTrainer (loss_type "sigmoid" / "ipo", rewards/*).
public final class DPOObjective: TrainingObjective {
  public let train: PreferenceDataset
  public let validation: PreferenceDataset?
  public let pairsPerStep: Int
  public let beta: Double
  public let kind: PreferenceLoss.DPOKind
  /// Weight of the chosen completion's mean next-token loss added to DPO's (TRL's rpo_alpha, Pang et al. 2024):
  /// with pairs the policy did not write, DPO alone can widen the margin by making both answers unlikely and drift
  /// away from both; the NLL term keeps the chosen answers likely. 0 turns it off.
  public let chosenNLLWeight: Double
  var schedule: PairSchedule
  /// Reference (chosen, rejected) log-probability sums and completion lengths by pair index.
  private var trainReferences: [Int: Reference] = [:]
  private var validationReferences: [Int: Reference] = [:]
  public var evaluationLimit = 1000

  struct Reference {
    var chosen: Double
    var rejected: Double
    var chosenCount: Int
    var rejectedCount: Int
  }

  public init(
    train: PreferenceDataset, validation: PreferenceDataset?, pairsPerStep: Int, beta: Double,
    kind: PreferenceLoss.DPOKind, chosenNLLWeight: Double = 0, seed: UInt64
  ) throws {
    guard chosenNLLWeight >= 0, chosenNLLWeight.isFinite else {
      throw TrainingError.invalidOption(name: "chosenNLLWeight", reason: "must be 0 or more, not \(chosenNLLWeight)")
    }
    self.chosenNLLWeight = chosenNLLWeight
    guard train.count > 0 else {
      throw TrainingError.invalidOption(name: "data", reason: "\(train.path) has no usable preference pair")
    }
    guard beta > 0, beta.isFinite else {
      throw TrainingError.invalidOption(name: "beta", reason: "must be a positive number, not \(beta)")
    }
    self.train = train
    self.validation = validation
    self.pairsPerStep = max(1, pairsPerStep)
    self.beta = beta
    self.kind = kind
    self.schedule = PairSchedule(count: train.count, seed: seed)
  }

  /// The reference's sums for a pair: a forward pass with the method switched off.
  private func reference(_ pair: PairRow, graph: TrainingGraph) throws -> Reference {
    let out = try graph.evaluate(pair.row, method: nil, request: HeadRequest(logProbabilities: true))
    let c = pair.sum(out.logProbabilities, over: pair.chosen)
    let r = pair.sum(out.logProbabilities, over: pair.rejected)
    return Reference(chosen: c.sum, rejected: r.sum, chosenCount: c.count, rejectedCount: r.count)
  }

  /// One pair's loss from the policy's log-probabilities and the reference, added to `figures` with the implicit
  /// rewards β(π − ρ), and its derivatives with respect to each chosen and each rejected token's log-probability:
  /// h = (π_c − ρ_c) − (π_r − ρ_r) (IPO: per-token means), loss = DPO(h) − α·π_c/n_c; d/dπ_c = dh (IPO: / n_c) − α/n_c,
  /// d/dπ_r = −dh (IPO: / n_r). The training step and the held-out evaluation share it.
  private func pairLoss(_ out: HeadOutputs, _ pair: PairRow, _ ref: Reference, into figures: inout PairwiseFigures)
    -> (loss: Double, chosenGradient: Double, rejectedGradient: Double)
  {
    let pc = pair.sum(out.logProbabilities, over: pair.chosen).sum
    let pr = pair.sum(out.logProbabilities, over: pair.rejected).sum
    let nc = Double(max(ref.chosenCount, 1))
    let nr = Double(max(ref.rejectedCount, 1))
    let h =
      kind == .ipo
      ? (pc - ref.chosen) / nc - (pr - ref.rejected) / nr : (pc - ref.chosen) - (pr - ref.rejected)
    let (dpoLoss, dh) = PreferenceLoss.dpo(kind, h: h, beta: beta)
    let loss = dpoLoss - chosenNLLWeight * pc / nc
    figures.add(chosen: beta * (pc - ref.chosen), rejected: beta * (pr - ref.rejected), loss: loss)
    return (loss, (kind == .ipo ? dh / nc : dh) - chosenNLLWeight / nc, kind == .ipo ? -dh / nr : -dh)
  }

  public func accumulateStep(_ step: Int, graph: TrainingGraph, method: any TrainableMethod) throws -> ObjectiveStep {
    var figures = PairwiseFigures()
    var tokens = 0
    let scale = 1 / Double(pairsPerStep)
    for k in 0..<pairsPerStep {
      let index = schedule.next()
      let pair = PairRow(
        train[index], dropoutSeed: method.seed ^ (UInt64(step) &* 0x94D0_49BB_1331_11EB) ^ UInt64(k))
      tokens += pair.row.tokens.count
      let ref = try trainReferences[index] ?? reference(pair, graph: graph)
      trainReferences[index] = ref
      _ = try graph.evaluate(pair.row, method: method, request: HeadRequest(logProbabilities: true)) { out in
        let (_, gc, gr) = self.pairLoss(out, pair, ref, into: &figures)
        var g = [Float](repeating: 0, count: pair.row.tokens.count)
        for t in pair.chosen where pair.row.targets[t] >= 0 { g[t] = Float(gc * scale) }
        for t in pair.rejected where pair.row.targets[t] >= 0 { g[t] = Float(gr * scale) }
        return HeadGradients(logProbabilities: g)
      }
    }
    var metrics = figures.figures
    metrics.removeValue(forKey: "loss")
    metrics.removeValue(forKey: "pairs")
    return ObjectiveStep(
      loss: figures.lossSum / Double(pairsPerStep), counted: pairsPerStep, tokens: tokens, metrics: metrics)
  }

  public func evaluate(graph: TrainingGraph, method: any TrainableMethod) throws -> [String: Double]? {
    guard let validation, validation.count > 0 else { return nil }
    var figures = PairwiseFigures()
    for i in 0..<min(evaluationLimit, validation.count) {
      let pair = PairRow(validation[i])
      let ref = try validationReferences[i] ?? reference(pair, graph: graph)
      validationReferences[i] = ref
      let out = try graph.evaluate(pair.row, method: method, request: HeadRequest(logProbabilities: true))
      _ = pairLoss(out, pair, ref, into: &figures)
    }
    return figures.figures
  }

  public var checkpointState: PairSchedule { schedule }

  public func restore(_ state: PairSchedule) throws {
    schedule = try state.checked(pairs: train.count)
  }
}
