import Glibc
public import Memory

/// AdamW with decoupled weight decay, exactly as torch.optim.AdamW (foreach=False, amsgrad=False) computes it:
///
///     t += 1
///     p ← p · (1 − lr·λ)                         (decay first, on the value before the update)
///     m ← β1·m + (1 − β1)·g
///     v ← β2·v + (1 − β2)·g²
///     p ← p − (lr / (1 − β1ᵗ)) · m / (sqrt(v) / sqrt(1 − β2ᵗ) + ε)
///
/// One step counter for all tensors (they are always stepped together). Element-wise work is fp32, as torch's;
/// the bias corrections are computed in Double and rounded once. Deterministic: no threads, a fixed order.
/// The moments live in an `OptimizerStateStore` (in RAM by default, or paged to a spill file): the update is
/// element-wise, so it runs over whatever contiguous pieces the store hands out, with the same result.
/// ref: Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"; torch/optim/adamw.py _single_tensor_adamw.
public final class AdamW {
  public struct Hyperparameters: Sendable, Equatable {
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    /// λ, decoupled: p ← p·(1 − lr·λ). torch's default is 0.01; transformers' Trainer passes 0.
    public var weightDecay: Double

    public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
      self.beta1 = beta1
      self.beta2 = beta2
      self.epsilon = epsilon
      self.weightDecay = weightDecay
    }

    /// Checks the ranges torch checks (0 ≤ β < 1, ε ≥ 0, λ ≥ 0).
    public func validate() throws(TrainingError) {
      for (name, beta) in [("beta1", beta1), ("beta2", beta2)] where !(beta >= 0 && beta < 1) {
        throw .invalidOption(name: name, reason: "\(beta) is not in [0, 1)")
      }
      guard epsilon >= 0, epsilon.isFinite else { throw .invalidOption(name: "epsilon", reason: "\(epsilon) < 0") }
      guard weightDecay >= 0, weightDecay.isFinite else {
        throw .invalidOption(name: "weight decay", reason: "\(weightDecay) is negative or not finite")
      }
    }
  }

  public let hyperparameters: Hyperparameters
  public let state: any OptimizerStateStore
  /// Steps taken so far (torch's `state["step"]`): the next step uses t = stepCount + 1.
  public internal(set) var stepCount = 0

  /// An optimizer for `parameters`, with its moments in `state` (which must have `parameters.count` elements) or,
  /// when nil, in RAM reserved from `ledger` as "optimizer-state".
  public init(
    parameters: ParameterStore, hyperparameters: Hyperparameters = Hyperparameters(),
    state: (any OptimizerStateStore)? = nil, ledger: MemoryLedger
  ) throws {
    try hyperparameters.validate()
    let store = try state ?? InMemoryOptimizerState(count: parameters.count, ledger: ledger)
    precondition(
      store.count == parameters.count, "optimizer state has \(store.count) elements, parameters \(parameters.count)")
    self.hyperparameters = hyperparameters
    self.state = store
  }

  /// One update of every tensor in `parameters` from its accumulated gradient, at learning rate `learningRate`.
  /// Gradients are read, not cleared.
  public func step(_ parameters: ParameterStore, learningRate: Double) throws {
    precondition(parameters.count == state.count, "parameters do not match the optimizer state")
    stepCount += 1
    let h = hyperparameters
    let t = Double(stepCount)
    let constants = Constants(
      decay: Float(1 - learningRate * h.weightDecay),
      beta1: Float(h.beta1), oneMinusBeta1: Float(1 - h.beta1),
      beta2: Float(h.beta2), oneMinusBeta2: Float(1 - h.beta2),
      stepSize: Float(learningRate / (1 - pow(h.beta1, t))),
      biasCorrection2Sqrt: Float((1 - pow(h.beta2, t)).squareRoot()),
      epsilon: Float(h.epsilon))
    for tensor in parameters.tensors {
      try state.forEachMomentSegment(tensor.range, dirtying: true) { offset, m, v in
        let piece = offset..<(offset + m.count)
        adamWUpdate(
          value: UnsafeMutableBufferPointer(rebasing: tensor.value[piece]),
          gradient: UnsafeMutableBufferPointer(rebasing: tensor.gradient[piece]), m: m, v: v, constants)
      }
    }
  }

  /// Zeroes the moments and the step counter (a fresh optimizer over the same parameters).
  public func reset() throws {
    try state.reset()
    stepCount = 0
  }

  struct Constants {
    var decay, beta1, oneMinusBeta1, beta2, oneMinusBeta2, stepSize, biasCorrection2Sqrt, epsilon: Float
  }
}

/// The AdamW element update over one tensor: value, gradient, m, v all `n` long.
/// In torch's order: denom = sqrt(v) / sqrt(1 − β2ᵗ) + ε, then p − stepSize·m / denom.
private func adamWUpdate(
  value: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>,
  m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>, _ c: AdamW.Constants
) {
  let n = value.count
  guard n > 0, let p = value.baseAddress, let g = gradient.baseAddress, let mp = m.baseAddress,
    let vp = v.baseAddress
  else { return }
  for i in 0..<n {
    let gi = g[i]
    let mi = c.beta1 * mp[i] + c.oneMinusBeta1 * gi
    let vi = c.beta2 * vp[i] + c.oneMinusBeta2 * (gi * gi)
    mp[i] = mi
    vp[i] = vi
    let denominator = vi.squareRoot() / c.biasCorrection2Sqrt + c.epsilon
    p[i] = p[i] * c.decay - c.stepSize * mi / denominator
  }
}
