/// Gradient clipping by the global L2 norm, as torch.nn.utils.clip_grad_norm_ does it.
extension ParameterStore {
  /// The L2 norm of all gradients taken together: sqrt(Σ g²), summed in Double in a fixed order (deterministic).
  public func gradientNorm() -> Double {
    let g = UnsafeBufferPointer(allGradients)
    guard let base = g.baseAddress else { return 0 }
    var total = 0.0
    // Blocks of 1024 summed in Float SIMD lanes, then added in Double: vectorized, and the order never changes.
    let block = 1024
    var start = 0
    while start < g.count {
      let end = min(start + block, g.count)
      var lanes = SIMD8<Float>()
      var i = start
      while i + 8 <= end {
        let x = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD8<Float>.self)
        lanes += x * x
        i += 8
      }
      var partial = Double(lanes.sum())
      while i < end {
        partial += Double(g[i]) * Double(g[i])
        i += 1
      }
      total += partial
      start = end
    }
    return total.squareRoot()
  }

  /// Scales all gradients so their global norm is at most `maxNorm`; returns the norm before clipping.
  ///
  /// torch's formula: coef = maxNorm / (norm + 1e-6), applied when coef < 1. When the norm is NaN or infinite the
  /// gradients are left as they are and the norm is returned, so the caller can skip the step (torch would
  /// multiply by NaN).
  /// ref: torch/nn/utils/clip_grad.py, clip_grad_norm_ (error_if_nonfinite=False).
  @discardableResult
  public func clipGradients(maxNorm: Double) -> Double {
    let norm = gradientNorm()
    // 0 turns clipping off, as Hugging Face's Trainer reads max_grad_norm 0; so does anything not positive and finite.
    guard norm.isFinite, maxNorm > 0, maxNorm.isFinite else { return norm }
    let coefficient = maxNorm / (norm + 1e-6)
    guard coefficient < 1 else { return norm }
    let c = Float(coefficient)
    let g = allGradients
    for i in 0..<g.count { g[i] *= c }
    return norm
  }
}
