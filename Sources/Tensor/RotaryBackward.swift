/// Backward of `rotaryForward`, in place on the gradient: the inverse (transposed) rotation.
///
/// The forward maps each pair (a, b) = (x_i, x_{i+rotaryDim/2}) by R = [[cos, −sin], [sin, cos]]; R is orthogonal,
/// so the gradient goes back through Rᵀ: (da, db) ← (da·cos + db·sin, db·cos − da·sin). Elements past rotaryDim pass
/// through untouched, as in the forward.
/// - Parameters: gradient (tokens, heads·headDim) with row stride `rowStride`; cos, sin (tokens, rotaryDim/2) from
///   `RotaryEmbedding.table`, the same tables the forward used.
/// ref: Su et al. 2021, "RoFormer"; transformers' apply_rotary_pos_emb (rotate_half layout).
public func rotaryBackward(
  _ gradient: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDim: Int, rotaryDim: Int, rowStride: Int,
  cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
) {
  let half = rotaryDim / 2
  for t in 0..<tokens {
    let c = cos + t * half
    let s = sin + t * half
    for h in 0..<heads {
      let v = gradient + t * rowStride + h * headDim
      for i in 0..<half {
        let a = v[i]
        let b = v[i + half]
        v[i] = a * c[i] + b * s[i]
        v[i + half] = b * c[i] - a * s[i]
      }
    }
  }
}
