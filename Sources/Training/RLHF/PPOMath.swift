import Foundation

/// PPO's per-token arithmetic, apart from the graph so each piece can be checked alone: generalized advantage
/// estimation, whitening, and the clipped policy and value losses with their gradients.
/// ref: Schulman et al. 2017 (PPO), 2015 (GAE); TRL's PPOTrainer (per-token KL penalty in the reward, masked
/// whitening of advantages, pg_losses = max(−A·ratio, −A·clip(ratio)), vf_loss = ½·max((v − R)², (v_clip − R)²)).
public enum PPOMath {
  /// Advantages and returns of one response from its per-token rewards and values (bootstrapping 0 after the last
  /// token): δ_t = r_t + γ V_{t+1} − V_t, A_t = δ_t + γλ A_{t+1}, R_t = A_t + V_t.
  public static func advantages(rewards: [Double], values: [Double], gamma: Double, lambda: Double) -> (
    advantages: [Double], returns: [Double]
  ) {
    precondition(rewards.count == values.count, "one value per reward")
    var advantages = [Double](repeating: 0, count: rewards.count)
    var last = 0.0
    for t in stride(from: rewards.count - 1, through: 0, by: -1) {
      let next = t + 1 < values.count ? values[t + 1] : 0
      let delta = rewards[t] + gamma * next - values[t]
      last = delta + gamma * lambda * last
      advantages[t] = last
    }
    return (advantages, zip(advantages, values).map { $0 + $1 })
  }

  /// (x − mean) / sqrt(var + 1e-8) over every element of every sequence, with the unbiased variance (as torch.var
  /// in TRL's `masked_whiten`). Fewer than two elements are only centred.
  public static func whiten(_ sequences: [[Double]]) -> [[Double]] {
    let all = sequences.joined()
    let n = Double(all.count)
    guard n >= 1 else { return sequences }
    let mean = all.reduce(0, +) / n
    guard n >= 2 else { return sequences.map { $0.map { $0 - mean } } }
    let variance = all.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    let scale = 1 / (variance + 1e-8).squareRoot()
    return sequences.map { $0.map { ($0 - mean) * scale } }
  }

  /// The clipped surrogate of one token: loss max(−A·ρ, −A·clip(ρ, 1 ± ε)) with ρ = exp(logp − old), its derivative
  /// with respect to logp (0 where the clipped branch is taken and flat), and whether the clipped branch won.
  public static func policyLoss(logProbability: Double, old: Double, advantage: Double, clip: Double) -> (
    loss: Double, gradient: Double, clipped: Bool
  ) {
    let ratio = exp(logProbability - old)
    let unclipped = -advantage * ratio
    let bounded = min(max(ratio, 1 - clip), 1 + clip)
    let clippedLoss = -advantage * bounded
    if clippedLoss > unclipped {
      // The clipped branch: flat in logp when the ratio sits outside the range.
      let inside = ratio > 1 - clip && ratio < 1 + clip
      return (clippedLoss, inside ? -advantage * ratio : 0, true)
    }
    return (unclipped, -advantage * ratio, false)
  }

  /// The clipped value loss of one token: ½·max((v − R)², (v_clip − R)²) with v_clip = old + clip(v − old, ±ε),
  /// and its derivative with respect to v.
  public static func valueLoss(value: Double, old: Double, target: Double, clip: Double) -> (
    loss: Double, gradient: Double
  ) {
    let clippedValue = old + min(max(value - old, -clip), clip)
    let plain = (value - target) * (value - target)
    let clipped = (clippedValue - target) * (clippedValue - target)
    if clipped > plain {
      let inside = value - old > -clip && value - old < clip
      return (0.5 * clipped, inside ? clippedValue - target : 0)
    }
    return (0.5 * plain, value - target)
  }
}
