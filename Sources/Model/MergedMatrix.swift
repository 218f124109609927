internal import Tensor

/// A frozen matrix with a LoRA update folded in, decoded tile by tile like any other: W' = W + scale · B·A, and with
/// DoRA's magnitude each row V_j of that rescaled to m_j / ‖V_j‖ (exactly what the layer computes, since every row
/// is decoded whole). Used by `merge` to write merged models through the same streaming converters; nothing is held
/// whole.
/// - a: (rank, cols), b: (rows, rank), magnitude: (rows) or nil, copied (they are small).
public struct MergedMatrix: FrozenMatrix {
  public let base: any FrozenMatrix
  public let a: [Float]
  public let b: [Float]
  public let rank: Int
  public let scale: Float
  public let magnitude: [Float]?

  public init(base: any FrozenMatrix, a: [Float], b: [Float], rank: Int, scale: Float, magnitude: [Float]? = nil) {
    precondition(a.count == rank * base.cols && b.count == base.rows * rank, "LoRA shapes do not match the matrix")
    precondition(magnitude.map { $0.count == base.rows } ?? true, "DoRA's magnitude does not match the matrix")
    self.base = base
    self.a = a
    self.b = b
    self.rank = rank
    self.scale = scale
    self.magnitude = magnitude
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
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        for (i, r) in range.enumerated() {
          let row = destination + i * cols
          for k in 0..<rank {
            let coefficient = scale * b[r * rank + k]
            if coefficient == 0 { continue }
            let aRow = a.baseAddress! + k * cols
            for j in 0..<cols { row[j] += coefficient * aRow[j] }
          }
          if let magnitude {
            let norm = dot(row, row, count: cols).squareRoot()
            let factor = magnitude[r] / max(norm, .leastNormalMagnitude)
            for j in 0..<cols { row[j] *= factor }
          }
        }
      }
    }
  }
}

extension LanguageModel {
  /// This model with `adapter`'s LoRA updates merged into the frozen projections it targets.
  public func merging(_ adapter: any LoRAProvider) -> LanguageModel {
    var weights = self.weights
    for (index, layer) in weights.layers.enumerated() {
      var merged = layer
      for target in ProjectionTarget.allCases {
        guard let view = adapter.lora(layer: index, target: target) else { continue }
        let base = target.matrix(in: layer)
        let matrix = MergedMatrix(
          base: base, a: Array(UnsafeBufferPointer(start: view.a, count: view.rank * base.cols)),
          b: Array(UnsafeBufferPointer(start: view.b, count: base.rows * view.rank)), rank: view.rank,
          scale: view.scale,
          magnitude: view.dora.map { Array(UnsafeBufferPointer(start: $0.magnitude, count: base.rows)) })
        merged.setMatrix(target, matrix)
      }
      weights.layers[index] = merged
    }
    return LanguageModel(self, weights: weights)
  }
}
