import Foundation

/// The losses of preference learning as functions of a pair's scores, with their gradients, kept apart from the
/// graph so each can be checked by hand and by finite differences.
public enum PreferenceLoss {
  /// log σ(x), stable for large |x|.
  static func logSigmoid(_ x: Double) -> Double { x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)) }
  static func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }

  /// The reward model's pairwise loss −log σ(r_c − r_r − margin) (InstructGPT; TRL's RewardTrainer with its
  /// optional margin) and its gradients with respect to r_c and r_r.
  public static func reward(chosen: Double, rejected: Double, margin: Double = 0) -> (
    loss: Double, chosenGradient: Double, rejectedGradient: Double
  ) {
    let z = chosen - rejected - margin
    let g = -sigmoid(-z)  // d(−log σ(z))/dz
    return (-logSigmoid(z), g, -g)
  }

  /// DPO's losses on h = (π_c − ρ_c) − (π_r − ρ_r), policy and reference log-probabilities of the chosen and rejected
  /// completions.
  public enum DPOKind: String, Sendable, CaseIterable, Codable {
    /// −log σ(β h) (Rafailov et al. 2023).
    case sigmoid
    /// (h − 1/(2β))² (Azar et al. 2023, IPO), with log-probabilities averaged over each completion's tokens as TRL does.
    case ipo
  }

  /// The loss and d(loss)/dh.
  public static func dpo(_ kind: DPOKind, h: Double, beta: Double) -> (loss: Double, gradient: Double) {
    switch kind {
    case .sigmoid: (-logSigmoid(beta * h), -beta * sigmoid(-beta * h))
    case .ipo: (pow(h - 1 / (2 * beta), 2), 2 * (h - 1 / (2 * beta)))
    }
  }
}
