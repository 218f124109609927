import Glibc

/// The non-linearity between a bottleneck adapter's down- and up-projection.
public enum BottleneckActivation: String, Sendable, CaseIterable {
  case relu
  /// x · sigmoid(x) (AdapterHub's "swish").
  case silu

  @inline(__always) func value(_ z: Float) -> Float {
    switch self {
    case .relu: return max(z, 0)
    case .silu: return z / (1 + expf(-z))
    }
  }

  @inline(__always) func derivative(_ z: Float) -> Float {
    switch self {
    case .relu: return z > 0 ? 1 : 0
    case .silu:
      let s = 1 / (1 + expf(-z))
      return s * (1 + z * (1 - s))
    }
  }
}

/// A bottleneck adapter's residual branch added to a sublayer's output: y += act(x W_downᵀ + b_down) W_upᵀ + b_up.
/// - Parameters:
///   - input: x (T, d), the sublayer's output (the adapter's input).
///   - down: W_down (r, d); downBias: (r); up: W_up (d, r); upBias: (d).
///   - preActivation: z = x W_downᵀ + b_down (T, r), written and saved for the backward.
///   - activated: act(z) (T, r), written and saved for the backward.
///   - output: y (T, d), ACCUMULATED (+=); it already holds x (the residual).
/// ref: Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP"; Pfeiffer et al. 2020, "AdapterFusion".
public func bottleneckForward(
  input x: UnsafePointer<Float>, down: UnsafePointer<Float>, downBias: UnsafePointer<Float>,
  up: UnsafePointer<Float>, upBias: UnsafePointer<Float>, activation: BottleneckActivation,
  preActivation z: UnsafeMutablePointer<Float>, activated a: UnsafeMutablePointer<Float>,
  output y: UnsafeMutablePointer<Float>, tokens T: Int, dim d: Int, bottleneck r: Int
) {
  guard T > 0 else { return }
  // z (T, r) = x (T, d) · W_downᵀ, then + b_down per row
  BLAS.gemmABt(m: T, n: r, k: d, a: x, lda: d, b: down, ldb: d, c: z, ldc: r)
  for t in 0..<T {
    for j in 0..<r {
      let value = z[t * r + j] + downBias[j]
      z[t * r + j] = value
      a[t * r + j] = activation.value(value)
    }
  }
  // y (T, d) += a (T, r) · W_upᵀ, then + b_up per row
  BLAS.gemmABt(m: T, n: d, k: r, a: a, lda: r, b: up, ldb: r, beta: 1, c: y, ldc: d)
  for t in 0..<T { addInPlace(y + t * d, upBias, count: d) }
}

/// Backward of `bottleneckForward`'s branch. With dy the gradient of the adapter's output:
///   dW_up += dyᵀ a;  db_up += Σ_t dy;  dz = (dy W_up) ⊙ act'(z);  dW_down += dzᵀ x;  db_down += Σ_t dz;
///   dx += dz W_down  (the residual's dy is the caller's to add).
/// All parameter gradients and dx are ACCUMULATED. dz is formed in temporary storage (T × r floats).
public func bottleneckBackward(
  input x: UnsafePointer<Float>, down: UnsafePointer<Float>, up: UnsafePointer<Float>,
  activation: BottleneckActivation, preActivation z: UnsafePointer<Float>, activated a: UnsafePointer<Float>,
  outputGradient dy: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>,
  downGradient: UnsafeMutablePointer<Float>, downBiasGradient: UnsafeMutablePointer<Float>,
  upGradient: UnsafeMutablePointer<Float>, upBiasGradient: UnsafeMutablePointer<Float>,
  tokens T: Int, dim d: Int, bottleneck r: Int
) {
  guard T > 0 else { return }
  // dW_up (d, r) += dyᵀ (d, T) · a (T, r)
  BLAS.gemm(
    transposeA: true, transposeB: false, m: d, n: r, k: T, a: dy, lda: d, b: a, ldb: r, beta: 1, c: upGradient,
    ldc: r)
  for t in 0..<T { addInPlace(upBiasGradient, dy + t * d, count: d) }
  withUnsafeTemporaryAllocation(of: Float.self, capacity: T * r) { buffer in
    let dz = buffer.baseAddress!
    // da (T, r) = dy (T, d) · W_up (d, r); dz = da ⊙ act'(z)
    BLAS.gemm(transposeA: false, transposeB: false, m: T, n: r, k: d, a: dy, lda: d, b: up, ldb: r, c: dz, ldc: r)
    for i in 0..<(T * r) { dz[i] *= activation.derivative(z[i]) }
    for t in 0..<T { addInPlace(downBiasGradient, dz + t * r, count: r) }
    // dW_down (r, d) += dzᵀ (r, T) · x (T, d)
    BLAS.gemm(
      transposeA: true, transposeB: false, m: r, n: d, k: T, a: dz, lda: r, b: x, ldb: d, beta: 1, c: downGradient,
      ldc: d)
    // dx (T, d) += dz (T, r) · W_down (r, d)
    BLAS.gemm(
      transposeA: false, transposeB: false, m: T, n: d, k: r, a: dz, lda: r, b: down, ldb: d, beta: 1, c: dx, ldc: d)
  }
}
