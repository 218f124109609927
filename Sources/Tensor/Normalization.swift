/// RMSNorm over the last dimension: y = x / sqrt(mean(x²) + eps) · weight.
/// - Parameters: input (rows, dim); weight (dim); output (rows, dim), may alias input.
/// ref: Zhang & Sennrich 2019, "Root Mean Square Layer Normalization"; Llama's LlamaRMSNorm (fp32 statistics).
public func rmsNormForward(
  input: UnsafePointer<Float>, weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
  rows: Int, dim: Int, epsilon: Float
) {
  for r in 0..<rows {
    let x = input + r * dim
    let y = output + r * dim
    let meanSquare = sumOfSquares(x, count: dim) / Float(dim)
    let scale = 1 / (meanSquare + epsilon).squareRoot()
    for i in 0..<dim { y[i] = x[i] * scale * weight[i] }
  }
}

/// Σ x² with eight independent SIMD accumulators, so the reduction vectorizes without unsafe compiler flags.
@inlinable
public func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Float {
  var acc = SIMD8<Float>()
  var i = 0
  let raw = UnsafeRawPointer(x)
  while i + 8 <= count {
    let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
    acc += v * v
    i += 8
  }
  var total = acc.sum()
  while i < count {
    total += x[i] * x[i]
    i += 1
  }
  return total
}

/// Σ a·b, vectorized like `sumOfSquares`.
@inlinable
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
  var acc = SIMD8<Float>()
  var i = 0
  let ra = UnsafeRawPointer(a)
  let rb = UnsafeRawPointer(b)
  while i + 8 <= count {
    acc +=
      ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
      * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
    i += 8
  }
  var total = acc.sum()
  while i < count {
    total += a[i] * b[i]
    i += 1
  }
  return total
}
