import Foundation
import Tensor
import Testing

@Suite struct ActivationTests {
  @Test(arguments: [0, 1, 7, 64, 1000])
  func swigluMatchesDouble(count: Int) {
    let gate = randomFloats(count, seed: UInt64(count) + 1, in: -12...12)
    let up = randomFloats(count, seed: UInt64(count) + 2, in: -3...3)
    var out = [Float](repeating: .nan, count: count)
    swigluForward(gate: gate, up: up, output: &out, count: count)
    var want = [Double]()
    for i in 0..<count {
      let g = Double(gate[i])
      want.append(g / (1 + exp(-g)) * Double(up[i]))
    }
    // Element-wise: expf, one division and two products, each within a few u of the Double result.
    for i in 0..<count {
      #expect(abs(Double(out[i]) - want[i]) <= relativeTolerance * max(abs(want[i]), 1e-30), "i \(i)")
    }

    // Output may alias gate.
    var aliased = gate
    aliased.withUnsafeMutableBufferPointer { g in
      swigluForward(gate: UnsafePointer(g.baseAddress!), up: up, output: g.baseAddress!, count: count)
    }
    #expect(aliased == out)
  }

  @Test func swigluSaturatesWithoutNaN() {
    let gate: [Float] = [-200, -88, 0, 88, 200]
    let up: [Float] = [1, 1, 1, 1, 1]
    var out = [Float](repeating: .nan, count: 5)
    swigluForward(gate: gate, up: up, output: &out, count: 5)
    #expect(out.allSatisfy { $0.isFinite })
    #expect(out[0] == 0 && out[2] == 0 && out[4] == 200)
  }

  /// Naive twin of one softmax row in Double; -inf entries give exactly 0.
  static func softmaxReference(_ row: ArraySlice<Float>) -> [Double] {
    let maximum = Double(row.max()!)
    let e = row.map { exp(Double($0) - maximum) }
    let total = e.reduce(0, +)
    return e.map { $0 / total }
  }

  @Test(arguments: [(1, 1, 1), (3, 5, 5), (4, 17, 20), (6, 64, 70)])
  func softmaxRowsMatchDouble(rows: Int, cols: Int, stride: Int) {
    var x = randomFloats(rows * stride, seed: UInt64(rows * 100 + cols), in: -20...20)
    // Mask a causal-style suffix of every row but the first entry, and one entry in the middle.
    for r in 0..<rows {
      for j in max(1, cols - r)..<cols { x[r * stride + j] = -.infinity }
      if cols > 3 { x[r * stride + cols / 2] = -.infinity }
    }
    let original = x
    softmaxRowsInPlace(&x, rows: rows, cols: cols, stride: stride)

    for r in 0..<rows {
      let got = Array(x[(r * stride)..<(r * stride + cols)])
      let want = Self.softmaxReference(original[(r * stride)..<(r * stride + cols)])
      // expf of each shifted entry within a few u, then a sum of ≤ 64 positive terms: ≤ ~70 u.
      #expect(normwiseRelativeError(got, want) <= relativeTolerance, "row \(r)")
      for j in 0..<cols where original[r * stride + j] == -.infinity { #expect(got[j] == 0) }
      #expect(abs(got.reduce(0.0) { $0 + Double($1) } - 1) <= relativeTolerance)
      // Entries past `cols` in the stride are not touched.
      for j in cols..<stride { #expect(x[r * stride + j] == original[r * stride + j]) }
    }
  }

  @Test func softmaxIsShiftInvariantForLargeLogits() {
    var x: [Float] = [1000, 1001, 999, -.infinity]
    softmaxRowsInPlace(&x, rows: 1, cols: 4, stride: 4)
    let want = Self.softmaxReference([0, 1, -1, -.infinity])
    #expect(normwiseRelativeError(x, want) <= relativeTolerance)
  }

  @Test func fullyMaskedRowBecomesZeros() {
    var x: [Float] = [-.infinity, -.infinity, -.infinity, 0.5, 2, -.infinity]
    softmaxRowsInPlace(&x, rows: 2, cols: 3, stride: 3)
    #expect(Array(x[0..<3]) == [0, 0, 0])
    #expect(normwiseRelativeError(Array(x[3..<6]), Self.softmaxReference([0.5, 2, -.infinity])) <= relativeTolerance)
  }

  @Test func logSumExpOfNothingIsMinusInfinity() {
    let masked: [Float] = [-.infinity, -.infinity]
    #expect(logSumExp(masked, count: 2) == -.infinity)
    #expect(logSumExp(masked, count: 0) == -.infinity)
  }

  @Test(arguments: [1, 2, 9, 50, 1000])
  func logSumExpMatchesDouble(count: Int) {
    var x = randomFloats(count, seed: UInt64(count) * 3, in: -30...30)
    if count > 2 { x[1] = -.infinity }
    let maximum = Double(x.max()!)
    let want = maximum + log(x.reduce(0.0) { $0 + exp(Double($1) - maximum) })
    let got = logSumExp(x, count: count)
    // log Σ eˣ: relative error of the sum (a few u per expf term) becomes absolute error of the log,
    // so the bound is relative to max(|result|, 1).
    #expect(abs(got - want) <= relativeTolerance * max(abs(want), 1))
  }

  @Test func logSumExpOfLargeValuesDoesNotOverflow() {
    let x: [Float] = [10_000, 10_000]
    #expect(abs(logSumExp(x, count: 2) - (10_000 + log(2.0))) <= 1e-3)
  }

  @Test func addInPlaceAdds() {
    var y: [Float] = [1, 2, 3]
    addInPlace(&y, [0.5, -2, 10], count: 3)
    #expect(y == [1.5, 0, 13])
  }
}
