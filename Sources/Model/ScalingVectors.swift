/// IA3's learned scaling vectors: keys and values scaled on their output (after any bias), the MLP's down_proj on
/// its input. A nil vector leaves that projection as it is.
/// ref: Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context Learning"
/// (IA)³; PEFT src/peft/tuners/ia3/layer.py (Linear.forward: `result * ia3_scaling`, or `x * ia3_scaling` first for
/// feed-forward modules).
public protocol ScalingVectorProvider: AnyObject {
  /// The vector of `target` in `layer` (kvDim for .k and .v, intermediateSize for .down) and its gradient.
  func scaling(layer: Int, target: ProjectionTarget) -> (
    values: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>
  )?
}

/// x[t, j] *= s[j] for every row: applying a scaling vector.
public func scaleColumns(_ x: UnsafeMutablePointer<Float>, by s: UnsafePointer<Float>, rows: Int, cols: Int) {
  for t in 0..<rows {
    let row = x + t * cols
    for j in 0..<cols { row[j] *= s[j] }
  }
}
