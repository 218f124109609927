/// Backward of `rmsNormForward`: the input gradient, and optionally the weight gradient.
///
/// With s = 1 / sqrt(mean(x²) + eps) and y_i = x_i · s · w_i, per row:
///   dx_i = s · w_i · dy_i − x_i · s³ / dim · Σ_j dy_j · w_j · x_j
///   dw_i = Σ_rows dy_i · x_i · s
/// - Parameters:
///   - input: x (rows, dim), the forward's input.
///   - weight: w (dim).
///   - outputGradient: dy (rows, dim).
///   - inputGradient: dx (rows, dim), ACCUMULATED (+=): the norm's input is a residual stream whose gradient is
///     the sum of every branch that reads it, so the caller passes the residual gradient here and gets it back with
///     this branch added.
///   - weightGradient: dw (dim), accumulated over rows when given (selective tuning of norm vectors); nil for LoRA,
///     where norms are frozen.
/// ref: Zhang & Sennrich 2019, "Root Mean Square Layer Normalization" (the gradient in its §3); llm.c's
/// layernorm_backward for the layout.
public func rmsNormBackward(
  input: UnsafePointer<Float>, weight: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
  inputGradient: UnsafeMutablePointer<Float>, weightGradient: UnsafeMutablePointer<Float>? = nil,
  rows: Int, dim: Int, epsilon: Float
) {
  for r in 0..<rows {
    let x = input + r * dim
    let dy = outputGradient + r * dim
    let dx = inputGradient + r * dim
    let s = 1 / (sumOfSquares(x, count: dim) / Float(dim) + epsilon).squareRoot()
    let k = weightedDot(dy, weight, x, count: dim) * s * s * s / Float(dim)
    if let dw = weightGradient {
      for i in 0..<dim { dw[i] += dy[i] * x[i] * s }
    }
    for i in 0..<dim { dx[i] += s * weight[i] * dy[i] - k * x[i] }
  }
}

/// Σ a·b·c, vectorized like `dot` (eight SIMD lanes, unaligned loads).
private func weightedDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, count: Int)
  -> Float
{
  var acc = SIMD8<Float>()
  var i = 0
  let ra = UnsafeRawPointer(a)
  let rb = UnsafeRawPointer(b)
  let rc = UnsafeRawPointer(c)
  while i + 8 <= count {
    acc +=
      ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
      * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
      * rc.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
    i += 8
  }
  var total = acc.sum()
  while i < count {
    total += a[i] * b[i] * c[i]
    i += 1
  }
  return total
}
