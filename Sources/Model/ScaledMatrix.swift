/// A frozen matrix with IA3's scaling folded in, decoded tile by tile like any other: scaling a projection's output
/// by l is W' = diag(l)·W (row r times l[r]); scaling its input by l is W' = W·diag(l) (column j times l[j]).
/// Used by `merge`; nothing is held whole.
public struct ScaledMatrix: FrozenMatrix {
  public enum Side: Sendable { case rows, columns }
  public let base: any FrozenMatrix
  public let scale: [Float]
  public let side: Side

  public init(base: any FrozenMatrix, scale: [Float], side: Side) {
    precondition(scale.count == (side == .rows ? base.rows : base.cols), "the scaling vector does not fit the matrix")
    self.base = base
    self.scale = scale
    self.side = side
  }

  public var rows: Int { base.rows }
  public var cols: Int { base.cols }
  public var name: String { base.name }
  public var fileRange: Range<Int> { base.fileRange }
  public var storageBytes: Int { base.storageBytes }
  /// Row r is decoded from the base's row r.
  public func storageRange(rows: Range<Int>) -> Range<Int>? { base.storageRange(rows: rows) }

  public func decodeRows(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
    base.decodeRows(range, into: destination)
    for (i, r) in range.enumerated() {
      let row = destination + i * cols
      switch side {
      case .rows: for j in 0..<cols { row[j] *= scale[r] }
      case .columns: for j in 0..<cols { row[j] *= scale[j] }
      }
    }
  }
}

extension LanguageModel {
  /// This model with IA3's vectors folded into the weights: keys and values (and their biases) scaled on their
  /// output, down_proj on its input; the result computes what the base with the vectors applied computes.
  public func mergingScalings(_ scalings: any ScalingVectorProvider) -> LanguageModel {
    var weights = self.weights
    for index in weights.layers.indices {
      for target in ProjectionTarget.allCases {
        guard let vector = scalings.scaling(layer: index, target: target) else { continue }
        let base = target.matrix(in: weights.layers[index])
        let side: ScaledMatrix.Side = target == .down ? .columns : .rows
        let scale = Array(UnsafeBufferPointer(start: vector.values, count: side == .rows ? base.rows : base.cols))
        weights.layers[index].setMatrix(target, ScaledMatrix(base: base, scale: scale, side: side))
        // A bias is added before the output scaling, so it scales too.
        if target == .k, let bias = weights.layers[index].keyBias {
          weights.layers[index].keyBias = zip(bias, scale).map { $0 * $1 }
        }
        if target == .v, let bias = weights.layers[index].valueBias {
          weights.layers[index].valueBias = zip(bias, scale).map { $0 * $1 }
        }
      }
    }
    return LanguageModel(self, weights: weights)
  }
}
