import Foundation
import Tensor
import Testing

/// Gradient checks for the element-wise and normalization backward kernels, and the finite-difference helpers every
/// backward test shares.
///
/// Method: each kernel's forward gets a naive twin in Double below; L = Σ g·y(θ) with a seeded random g is
/// differentiated by central differences of that Double twin, and the Float analytic gradient is compared with it.
/// Tolerance `gradientTolerance` = 1e-5 normwise relative: central differences with step h = 1e-5 err by
/// O(h²·|L‴|) + O(u_Double·|L| / h) ≈ 1e-10 here, so the difference is the Float backward's own rounding: sums of
/// ≤ 64 products and a few expf, a few hundred u at most (see `relativeTolerance`). Measured: ≤ 7.3e-7 over every
/// case below (≤ 3.6e-7 for attention), so 1e-5 leaves a 14× margin, while a wrong term shows up as 1e-2 or worse.
let gradientTolerance = 1e-5

/// Central differences (f(θ + h·e_i) − f(θ − h·e_i)) / 2h for every coordinate i of θ.
func centralDifferences(_ theta: [Double], step: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
  var point = theta
  return (0..<theta.count).map { i in
    let saved = point[i]
    point[i] = saved + step
    let plus = f(point)
    point[i] = saved - step
    let minus = f(point)
    point[i] = saved
    return (plus - minus) / (2 * step)
  }
}

/// Σ g·y: the scalar whose gradient a backward computes when its output gradient is g.
func functional(_ g: [Float], _ y: [Double]) -> Double {
  precondition(g.count == y.count, "functional over arrays of different lengths")
  var total = 0.0
  for (a, b) in zip(g, y) { total += Double(a) * b }
  return total
}

func doubles(_ x: [Float]) -> [Double] { x.map(Double.init) }

/// RMSNorm in Double over Double inputs (the twin `rmsNormReference` takes Floats).
func rmsNormDouble(_ x: [Double], _ w: [Double], rows: Int, dim: Int, epsilon: Double) -> [Double] {
  var y = [Double](repeating: 0, count: rows * dim)
  for r in 0..<rows {
    var sum = 0.0
    for i in 0..<dim { sum += x[r * dim + i] * x[r * dim + i] }
    let scale = 1 / (sum / Double(dim) + epsilon).squareRoot()
    for i in 0..<dim { y[r * dim + i] = x[r * dim + i] * scale * w[i] }
  }
  return y
}

/// HF rotary in Double over a strided buffer: pairs (i, i + rotaryDim/2) of each head rotate by position·inv_freq;
/// everything else (partial rotary, row padding) passes through.
func rotaryDouble(
  _ x: [Double], positions: Range<Int>, heads: Int, headDim: Int, rotaryDim: Int, rowStride: Int, base: Double
) -> [Double] {
  var y = x
  let half = rotaryDim / 2
  for (t, p) in positions.enumerated() {
    for h in 0..<heads {
      let o = t * rowStride + h * headDim
      for i in 0..<half {
        let angle = Double(p) / pow(base, Double(2 * i) / Double(rotaryDim))
        y[o + i] = x[o + i] * cos(angle) - x[o + i + half] * sin(angle)
        y[o + i + half] = x[o + i + half] * cos(angle) + x[o + i] * sin(angle)
      }
    }
  }
  return y
}

/// SwiGLU in Double: silu(g)·u.
func swigluDouble(_ gate: [Double], _ up: [Double]) -> [Double] {
  zip(gate, up).map { g, u in g / (1 + exp(-g)) * u }
}

@Suite struct BackwardTests {
  // Not dim 1: there y ≈ sign(x)·w and dx is the tiny difference of two O(1) terms (eps/|x|³), which Float cannot
  // resolve to 1e-5; from dim 3 the two terms no longer nearly cancel.
  @Test(arguments: [(1, 3), (3, 7), (2, 19), (4, 64)])
  func rmsNormGradientsMatchFiniteDifferences(rows: Int, dim: Int) {
    let seed = UInt64(rows * 100 + dim)
    let x = randomFloats(rows * dim, seed: seed, in: -2...2)
    let w = randomFloats(dim, seed: seed + 1, in: 0.5...1.5)
    let g = randomFloats(rows * dim, seed: seed + 2)
    let epsilon: Float = 1e-5
    var dx = [Float](repeating: 0, count: rows * dim)
    var dw = [Float](repeating: 0, count: dim)
    rmsNormBackward(
      input: x, weight: w, outputGradient: g, inputGradient: &dx, weightGradient: &dw, rows: rows, dim: dim,
      epsilon: epsilon)
    let wantDx = centralDifferences(doubles(x)) {
      functional(g, rmsNormDouble($0, doubles(w), rows: rows, dim: dim, epsilon: Double(epsilon)))
    }
    let wantDw = centralDifferences(doubles(w)) {
      functional(g, rmsNormDouble(doubles(x), $0, rows: rows, dim: dim, epsilon: Double(epsilon)))
    }
    #expect(normwiseRelativeError(dx, wantDx) <= gradientTolerance)
    #expect(normwiseRelativeError(dw, wantDw) <= gradientTolerance)
  }

  @Test func rmsNormAccumulatesAndWeightGradientIsOptional() {
    let (rows, dim) = (3, 13)
    let x = randomFloats(rows * dim, seed: 1)
    let w = randomFloats(dim, seed: 2, in: 0.5...1.5)
    let g = randomFloats(rows * dim, seed: 3)
    let priorDx = randomFloats(rows * dim, seed: 4)
    let priorDw = randomFloats(dim, seed: 5)
    var fresh = [Float](repeating: 0, count: rows * dim)
    var freshDw = [Float](repeating: 0, count: dim)
    rmsNormBackward(
      input: x, weight: w, outputGradient: g, inputGradient: &fresh, weightGradient: &freshDw, rows: rows, dim: dim,
      epsilon: 1e-6)
    var dx = priorDx
    var dw = priorDw
    rmsNormBackward(
      input: x, weight: w, outputGradient: g, inputGradient: &dx, weightGradient: &dw, rows: rows, dim: dim,
      epsilon: 1e-6)
    var noWeight = priorDx
    rmsNormBackward(
      input: x, weight: w, outputGradient: g, inputGradient: &noWeight, rows: rows, dim: dim, epsilon: 1e-6)
    // fl(prior + v) with the same v either way: bit-identical.
    #expect(dx == zip(priorDx, fresh).map(+))
    #expect(noWeight == dx)
    // dW sums rows in order onto the prior, so it is only close to prior + (sum from zero): one rounding per row.
    #expect(normwiseRelativeError(dw, zip(priorDw, freshDw).map { Double($0) + Double($1) }) <= relativeTolerance)
  }

  @Test(arguments: RotaryTests.shapes)
  func rotaryGradientMatchesFiniteDifferencesAndInvertsTheForward(_ s: RotaryTests.Shape) {
    let base = 10_000.0
    let stride = s.heads * s.headDim + s.padding
    let rope = RotaryEmbedding(headDim: s.headDim, rotaryDim: s.rotaryDim, base: base)
    let positions = s.start..<(s.start + s.tokens)
    var c = [Float](repeating: 0, count: s.tokens * s.rotaryDim / 2)
    var sn = c
    rope.table(positions: positions, cos: &c, sin: &sn)
    let x = randomFloats(s.tokens * stride, seed: UInt64(s.tokens * 7 + s.headDim))
    let g = randomFloats(s.tokens * stride, seed: UInt64(s.tokens * 7 + s.headDim + 1))

    var gradient = g
    rotaryBackward(
      &gradient, tokens: s.tokens, heads: s.heads, headDim: s.headDim, rotaryDim: s.rotaryDim, rowStride: stride,
      cos: c, sin: sn)
    let want = centralDifferences(doubles(x)) {
      functional(
        g,
        rotaryDouble(
          $0, positions: positions, heads: s.heads, headDim: s.headDim, rotaryDim: s.rotaryDim, rowStride: stride,
          base: base))
    }
    // The Float table holds cos/sin computed in Double and rounded once (≤ u), so far positions cost nothing extra.
    #expect(normwiseRelativeError(gradient, want) <= gradientTolerance)

    var roundTrip = x
    rotaryForward(
      &roundTrip, tokens: s.tokens, heads: s.heads, headDim: s.headDim, rotaryDim: s.rotaryDim, rowStride: stride,
      cos: c, sin: sn)
    rotaryBackward(
      &roundTrip, tokens: s.tokens, heads: s.heads, headDim: s.headDim, rotaryDim: s.rotaryDim, rowStride: stride,
      cos: c, sin: sn)
    // Rᵀ R = I up to Float rounding of cos² + sin² (a few u).
    #expect(normwiseRelativeError(roundTrip, doubles(x)) <= relativeTolerance)
  }

  @Test(arguments: [1, 8, 37])
  func swigluGradientsMatchFiniteDifferences(count: Int) {
    let gate = randomFloats(count, seed: UInt64(count), in: -6...6)
    let up = randomFloats(count, seed: UInt64(count) + 1, in: -2...2)
    let g = randomFloats(count, seed: UInt64(count) + 2)
    var dGate = [Float](repeating: .nan, count: count)
    var dUp = [Float](repeating: .nan, count: count)
    swigluBackward(gate: gate, up: up, outputGradient: g, gateGradient: &dGate, upGradient: &dUp, count: count)
    let wantGate = centralDifferences(doubles(gate)) { functional(g, swigluDouble($0, doubles(up))) }
    let wantUp = centralDifferences(doubles(up)) { functional(g, swigluDouble(doubles(gate), $0)) }
    #expect(normwiseRelativeError(dGate, wantGate) <= gradientTolerance)
    #expect(normwiseRelativeError(dUp, wantUp) <= gradientTolerance)
  }

  @Test func swigluBackwardIsFiniteForExtremeGates() {
    let gate: [Float] = [-200, -90, 0, 90, 200]
    let up: [Float] = [1, 1, 1, 1, 1]
    let g: [Float] = [1, 1, 1, 1, 1]
    var dGate = [Float](repeating: .nan, count: 5)
    var dUp = dGate
    swigluBackward(gate: gate, up: up, outputGradient: g, gateGradient: &dGate, upGradient: &dUp, count: 5)
    // silu′ → 0 for g → −∞ and → 1 for g → +∞; silu → 0 and → g.
    #expect(dGate == [0, 0, 0.5, 1, 1])
    #expect(dUp.allSatisfy { $0.isFinite })
    #expect(dUp[2] == 0 && dUp[4] == 200)
  }
}
