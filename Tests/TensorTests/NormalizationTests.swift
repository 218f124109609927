import Tensor
import Testing

/// Naive twin of `rmsNormForward` in Double: y = x / sqrt(mean(x²) + eps) · w.
func rmsNormReference(_ x: [Float], _ w: [Float], rows: Int, dim: Int, epsilon: Double) -> [Double] {
  var y = [Double](repeating: 0, count: rows * dim)
  for r in 0..<rows {
    var sum = 0.0
    for i in 0..<dim { sum += Double(x[r * dim + i]) * Double(x[r * dim + i]) }
    let scale = 1 / (sum / Double(dim) + epsilon).squareRoot()
    for i in 0..<dim { y[r * dim + i] = Double(x[r * dim + i]) * scale * Double(w[i]) }
  }
  return y
}

@Suite struct NormalizationTests {
  @Test(arguments: [(1, 1), (1, 8), (3, 7), (4, 64), (2, 257), (5, 576)])
  func rmsNormMatchesDouble(rows: Int, dim: Int) {
    let x = randomFloats(rows * dim, seed: UInt64(rows * 1000 + dim), in: -3...3)
    let w = randomFloats(dim, seed: 7, in: 0.5...1.5)
    let epsilon: Float = 1e-5
    var y = [Float](repeating: .nan, count: rows * dim)
    rmsNormForward(input: x, weight: w, output: &y, rows: rows, dim: dim, epsilon: epsilon)
    let want = rmsNormReference(x, w, rows: rows, dim: dim, epsilon: Double(epsilon))
    // dim up to 576 in the sum of squares: positive terms in 8 SIMD lanes, ≈ (576/8 + 8)·u ≈ 5e-6 worst case.
    #expect(normwiseRelativeError(y, want) <= relativeTolerance)
  }

  @Test(arguments: [(1, 8), (3, 37), (4, 64)])
  func rmsNormInPlace(rows: Int, dim: Int) {
    var x = randomFloats(rows * dim, seed: UInt64(dim), in: -2...2)
    let w = randomFloats(dim, seed: 11, in: 0.5...1.5)
    let separate = x.withUnsafeBufferPointer { input in
      var out = [Float](repeating: 0, count: rows * dim)
      rmsNormForward(input: input.baseAddress!, weight: w, output: &out, rows: rows, dim: dim, epsilon: 1e-6)
      return out
    }
    x.withUnsafeMutableBufferPointer { xs in
      rmsNormForward(
        input: UnsafePointer(xs.baseAddress!), weight: w, output: xs.baseAddress!, rows: rows, dim: dim, epsilon: 1e-6)
    }
    #expect(x == separate)
  }

  @Test func zeroRowGivesZero() {
    let x = [Float](repeating: 0, count: 16)
    let w = [Float](repeating: 1, count: 16)
    var y = [Float](repeating: .nan, count: 16)
    rmsNormForward(input: x, weight: w, output: &y, rows: 1, dim: 16, epsilon: 1e-5)
    #expect(y.allSatisfy { $0 == 0 })
  }

  @Test(arguments: 0...37)
  func sumOfSquaresAndDotMatchDouble(count: Int) {
    let a = randomFloats(count, seed: UInt64(count) + 100, in: -4...4)
    let b = randomFloats(count, seed: UInt64(count) + 200, in: -4...4)
    var squares = 0.0
    var product = 0.0
    var absoluteProducts = 0.0
    for i in 0..<count {
      squares += Double(a[i]) * Double(a[i])
      product += Double(a[i]) * Double(b[i])
      absoluteProducts += abs(Double(a[i]) * Double(b[i]))
    }
    let gotSquares = Double(sumOfSquares(a, count: count))
    let gotDot = Double(dot(a, b, count: count))
    if count == 0 {
      #expect(gotSquares == 0 && gotDot == 0)
      return
    }
    #expect(abs(gotSquares - squares) <= relativeTolerance * squares)
    // A dot product can cancel, so its error is bounded relative to Σ|a·b|, not to the result (n·u·Σ|a·b|).
    #expect(abs(gotDot - product) <= relativeTolerance * absoluteProducts)
  }

  @Test func reductionsReadUnalignedPointers() {
    let a = randomFloats(41, seed: 5)
    a.withUnsafeBufferPointer { p in
      let shifted = p.baseAddress! + 1  // 4-byte aligned only: loads must not assume 32-byte alignment
      var want = 0.0
      for i in 1..<41 { want += Double(a[i]) * Double(a[i]) }
      #expect(abs(Double(sumOfSquares(shifted, count: 40)) - want) <= relativeTolerance * want)
      #expect(abs(Double(dot(shifted, shifted, count: 40)) - want) <= relativeTolerance * want)
    }
  }
}
