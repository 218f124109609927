import Glibc

/// Backward of `swigluForward` (out = silu(gate) · up), from the pre-activation gate and up.
///
/// With σ = 1 / (1 + e^−g): silu(g) = g·σ and silu′(g) = σ · (1 + g · (1 − σ)), so
///   dGate = dOut · up · silu′(gate),  dUp = dOut · silu(gate).
/// - Parameters: gate, up, outputGradient, gateGradient, upGradient: (count) each. Both gradients are OVERWRITTEN
///   (gate and up feed only this product). Every index is read before it is written, so gateGradient may alias gate
///   or outputGradient and upGradient may alias up.
/// ref: Shazeer 2020, "GLU Variants Improve Transformer"; Elfwing et al. 2017 (SiLU).
public func swigluBackward(
  gate: UnsafePointer<Float>, up: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
  gateGradient: UnsafeMutablePointer<Float>, upGradient: UnsafeMutablePointer<Float>, count: Int
) {
  for i in 0..<count {
    let g = gate[i]
    let u = up[i]
    let dy = outputGradient[i]
    // e^−g overflows to +inf for g < −88: σ becomes 0 and both gradients 0, the correct limit.
    let sigma = 1 / (1 + expf(-g))
    gateGradient[i] = dy * u * sigma * (1 + g * (1 - sigma))
    upGradient[i] = dy * g * sigma
  }
}
