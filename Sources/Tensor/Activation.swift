import Glibc

/// SwiGLU's gate: out = silu(gate) · up, silu(g) = g / (1 + e^-g).
/// - Parameters: gate, up, output: (count) each; output may alias gate.
/// ref: Shazeer 2020, "GLU Variants Improve Transformer".
public func swigluForward(
  gate: UnsafePointer<Float>, up: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int
) {
  for i in 0..<count {
    let g = gate[i]
    output[i] = g / (1 + expf(-g)) * up[i]
  }
}

/// Softmax of each row in place, stable (max subtracted). Entries equal to -infinity (masked) become 0, and so
/// does every entry of a fully masked row.
/// - Parameters: x (rows, cols) with row stride `stride`; only the first `cols` entries of each row are used.
public func softmaxRowsInPlace(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int) {
  for r in 0..<rows {
    let row = x + r * stride
    var maximum = -Float.infinity
    for i in 0..<cols { maximum = max(maximum, row[i]) }
    // A fully masked row would compute -inf - -inf = NaN; it has no mass, so it becomes all zeros.
    if maximum == -.infinity {
      for i in 0..<cols { row[i] = 0 }
      continue
    }
    var total: Float = 0
    for i in 0..<cols {
      let e = expf(row[i] - maximum)
      row[i] = e
      total += e
    }
    let inverse = 1 / total
    for i in 0..<cols { row[i] *= inverse }
  }
}

/// out = x ⊙ y over `count` entries (dropout masks, DoRA's per-row factors).
public func multiply(
  _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int
) {
  for i in 0..<count { out[i] = x[i] * y[i] }
}

/// y += x, element-wise over `count` entries (residual connections).
public func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
  for i in 0..<count { y[i] += x[i] }
}

/// log Σ exp(x) of one row, computed stably in Double; -infinity when the row is empty or all -infinity.
public func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> Double {
  var maximum = -Float.infinity
  for i in 0..<count { maximum = max(maximum, x[i]) }
  // Empty or fully masked: the sum is 0 and its log -inf (not the NaN that -inf - -inf would give).
  if maximum == -.infinity { return -.infinity }
  var total: Double = 0
  for i in 0..<count { total += Double(expf(x[i] - maximum)) }
  return Double(maximum) + log(total)
}
