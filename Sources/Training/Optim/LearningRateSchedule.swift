import Glibc

/// The learning rate at each optimizer step: a linear warmup from 0, then constant, linear decay or cosine decay.
///
/// With `minRatio` 0 the factors are exactly those of transformers' schedules (`lr(step)` = peak × factor(step),
/// `step` counting optimizer steps from 0, so with warmup the first step has lr 0 as in transformers):
///
///     warmup (step < W):  step / max(1, W)                                   (all kinds)
///     constant:           1                                     get_constant_schedule_with_warmup
///     linear:             max(0, (N − step) / max(1, N − W))    get_linear_schedule_with_warmup
///     cosine:             max(0, ½(1 + cos(π · 2 · 0.5 · p)))   get_cosine_schedule_with_warmup (num_cycles 0.5)
///                         p = (step − W) / max(1, N − W)
///
/// `minRatio` r: cosine becomes f·(1 − r) + r, as get_cosine_with_min_lr_schedule_with_warmup(min_lr_rate: r);
/// linear, which has no such option in transformers, is given the same floor: r + (1 − r)·f. Constant ignores it.
/// Past N, cosine rises again (transformers' formula does too); the trainer stops at N.
/// ref: huggingface/transformers src/transformers/optimization.py.
public struct LearningRateSchedule: Sendable, Equatable {
  public enum Kind: String, Sendable, CaseIterable {
    case constant, linear, cosine
  }

  public var kind: Kind
  public var peak: Double
  public var warmupSteps: Int
  public var totalSteps: Int
  public var minRatio: Double

  public init(kind: Kind, peak: Double, warmupSteps: Int = 0, totalSteps: Int, minRatio: Double = 0)
    throws(TrainingError)
  {
    guard peak > 0, peak.isFinite else { throw .invalidOption(name: "learning rate", reason: "\(peak) is not > 0") }
    guard warmupSteps >= 0 else { throw .invalidOption(name: "warmup steps", reason: "\(warmupSteps) is negative") }
    guard totalSteps >= 1 else { throw .invalidOption(name: "total steps", reason: "\(totalSteps) is not ≥ 1") }
    guard minRatio >= 0, minRatio <= 1 else {
      throw .invalidOption(name: "minimum learning-rate ratio", reason: "\(minRatio) is not in [0, 1]")
    }
    self.kind = kind
    self.peak = peak
    self.warmupSteps = warmupSteps
    self.totalSteps = totalSteps
    self.minRatio = minRatio
  }

  /// The multiplier of `peak` at optimizer step `step` (0-based).
  public func factor(_ step: Int) -> Double {
    if step < warmupSteps { return Double(step) / Double(max(1, warmupSteps)) }
    switch kind {
    case .constant:
      return 1
    case .linear:
      let f = max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
      return minRatio == 0 ? f : minRatio + (1 - minRatio) * f
    case .cosine:
      let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
      let f = 0.5 * (1 + cos(Double.pi * 0.5 * 2 * progress))
      return max(0, minRatio == 0 ? f : f * (1 - minRatio) + minRatio)
    }
  }

  /// The learning rate at optimizer step `step` (0-based).
  public func lr(_ step: Int) -> Double { peak * factor(step) }
}
