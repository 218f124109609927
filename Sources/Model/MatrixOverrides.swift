/// Trainable copies of projection matrices used instead of the frozen ones (selective tuning of whole layers), with
/// their gradients.
public protocol MatrixOverrideProvider: AnyObject {
  /// The matrix to use for `target` in `layer` (a dense fp32 view of the trainable copy, (out, in) row-major) and its
  /// gradient of the same shape, or nil to keep the frozen one.
  func matrix(layer: Int, target: ProjectionTarget) -> (matrix: DenseMatrix, gradient: UnsafeMutablePointer<Float>)?
}

extension LayerWeights {
  /// Replaces one projection's matrix.
  public mutating func setMatrix(_ target: ProjectionTarget, _ matrix: any FrozenMatrix) {
    switch target {
    case .q: query = matrix
    case .k: key = matrix
    case .v: value = matrix
    case .o: output = matrix
    case .gate: gate = matrix
    case .up: up = matrix
    case .down: down = matrix
    }
  }
}

extension LanguageModel {
  /// This model with `matrices`' copies in place of the frozen projections they override (what `merge` writes
  /// out). The copies are borrowed: `matrices` must outlive the returned model.
  public func replacingMatrices(_ matrices: any MatrixOverrideProvider) -> LanguageModel {
    var weights = self.weights
    for index in weights.layers.indices {
      for target in ProjectionTarget.allCases {
        if let m = matrices.matrix(layer: index, target: target) {
          let frozen = target.matrix(in: weights.layers[index])
          weights.layers[index].setMatrix(
            target, DenseMatrix(values: m.matrix.values, rows: m.matrix.rows, cols: m.matrix.cols, name: frozen.name))
        }
      }
    }
    return LanguageModel(self, weights: weights)
  }
}
