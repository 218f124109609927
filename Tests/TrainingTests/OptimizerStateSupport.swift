import Training

/// Both moments of `range` copied out of `store`, whatever pieces the store hands them out in.
func moments(_ store: any OptimizerStateStore, _ range: Range<Int>) throws -> (m: [Float], v: [Float]) {
  var m: [Float] = []
  var v: [Float] = []
  try store.forEachMomentSegment(range, dirtying: false) { _, mPiece, vPiece in
    m += mPiece
    v += vPiece
  }
  return (m, v)
}
