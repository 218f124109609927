/// Trainable copies of projection matrices used instead of the frozen ones (selective tuning of whole layers), with
/// their gradients.
public protocol MatrixOverrideProvider: AnyObject {
  /// The matrix to use for `target` in `layer` (a dense fp32 view of the trainable copy, (out, in) row-major) and its
  /// gradient of the same shape, or nil to keep the frozen one.
  func matrix(layer: Int, target: ProjectionTarget) -> (matrix: DenseMatrix, gradient: UnsafeMutablePointer<Float>)?
  /// A trainable output head (vocabulary, hidden) used instead of the frozen (possibly tied) one, or nil.
  var outputHead: (matrix: DenseMatrix, gradient: UnsafeMutablePointer<Float>)? { get }
  /// Whether any layer matrix is overridden (when only the head is, backward need not go through the layers).
  var overridesLayers: Bool { get }
}

extension MatrixOverrideProvider {
  public var outputHead: (matrix: DenseMatrix, gradient: UnsafeMutablePointer<Float>)? { nil }
  public var overridesLayers: Bool { true }
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
    if let head = matrices.outputHead {
      weights.head = DenseMatrix(
        values: head.matrix.values, rows: head.matrix.rows, cols: head.matrix.cols, name: "lm_head.weight")
    }
    return LanguageModel(self, weights: weights, untiedHead: matrices.outputHead != nil)
  }

  /// The head a pass uses: `matrices`' trainable copy when it has one, else the frozen (streamed) head.
  public func head(with matrices: (any MatrixOverrideProvider)?) -> any FrozenMatrix {
    matrices?.outputHead?.matrix ?? headForPass
  }
}
