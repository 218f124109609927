import Foundation
import Tensor
import Testing

/// Naive twin of `loraForward` in Double: prior + scale · ((x ⊙ mask) Aᵀ) Bᵀ, and the hidden h = (x ⊙ mask) Aᵀ.
func loraDouble(
  x: [Double], a: [Double], b: [Double], scale: Double, mask: [Float]?, prior: [Float], tokens: Int, inFeatures: Int,
  outFeatures: Int, rank: Int
) -> (output: [Double], hidden: [Double]) {
  var hidden = [Double](repeating: 0, count: tokens * rank)
  var output = doubles(prior)
  for t in 0..<tokens {
    for r in 0..<rank {
      var sum = 0.0
      for i in 0..<inFeatures {
        sum += x[t * inFeatures + i] * Double(mask?[t * inFeatures + i] ?? 1) * a[r * inFeatures + i]
      }
      hidden[t * rank + r] = sum
    }
    for o in 0..<outFeatures {
      var sum = 0.0
      for r in 0..<rank { sum += hidden[t * rank + r] * b[o * rank + r] }
      output[t * outFeatures + o] += scale * sum
    }
  }
  return (output, hidden)
}

@Suite struct LoRATests {
  struct Case: Sendable, CustomTestStringConvertible {
    var tokens: Int, inFeatures: Int, outFeatures: Int, rank: Int, dropout: Bool
    var testDescription: String {
      "T\(tokens) \(inFeatures)→r\(rank)→\(outFeatures)" + (dropout ? " dropout" : "")
    }
  }

  struct Inputs {
    var x: [Float], a: [Float], b: [Float], mask: [Float]?, prior: [Float], g: [Float]
    let scale: Float = 2
    init(_ c: Case) {
      let seed = UInt64(c.tokens * 100 + c.inFeatures + (c.dropout ? 7 : 0))
      x = randomFloats(c.tokens * c.inFeatures, seed: seed)
      a = randomFloats(c.rank * c.inFeatures, seed: seed + 1)
      b = randomFloats(c.outFeatures * c.rank, seed: seed + 2)
      prior = randomFloats(c.tokens * c.outFeatures, seed: seed + 3)
      g = randomFloats(c.tokens * c.outFeatures, seed: seed + 4)
      // p = 0.5: entries 0 or 1/(1 − p) = 2, as PEFT's nn.Dropout scales the kept ones.
      mask = c.dropout ? randomFloats(c.tokens * c.inFeatures, seed: seed + 5, in: 0...1).map { $0 < 0.5 ? 0 : 2 } : nil
    }
  }

  func forward(_ c: Case, _ x: Inputs) -> (output: [Float], hidden: [Float]) {
    var output = x.prior
    var hidden = [Float](repeating: .nan, count: c.tokens * c.rank)
    withOptionalPointer(x.mask) { mask in
      loraForward(
        input: x.x, a: x.a, b: x.b, scale: x.scale, dropoutMask: mask, output: &output, hidden: &hidden,
        tokens: c.tokens, inFeatures: c.inFeatures, outFeatures: c.outFeatures, rank: c.rank)
    }
    return (output, hidden)
  }

  /// Gradients accumulated onto the given starting values.
  func backward(_ c: Case, _ x: Inputs, hidden: [Float], dx: [Float], da: [Float], db: [Float]) -> (
    dx: [Float], da: [Float], db: [Float]
  ) {
    var (dx, da, db) = (dx, da, db)
    withOptionalPointer(x.mask) { mask in
      loraBackward(
        input: x.x, a: x.a, b: x.b, scale: x.scale, dropoutMask: mask, hidden: hidden, outputGradient: x.g,
        inputGradient: &dx, aGradient: &da, bGradient: &db, tokens: c.tokens, inFeatures: c.inFeatures,
        outFeatures: c.outFeatures, rank: c.rank)
    }
    return (dx, da, db)
  }

  func zeros(_ c: Case) -> (dx: [Float], da: [Float], db: [Float]) {
    (
      [Float](repeating: 0, count: c.tokens * c.inFeatures), [Float](repeating: 0, count: c.rank * c.inFeatures),
      [Float](repeating: 0, count: c.outFeatures * c.rank)
    )
  }

  func loss(_ c: Case, _ x: Inputs, _ xs: [Double], _ a: [Double], _ b: [Double]) -> Double {
    functional(
      x.g,
      loraDouble(
        x: xs, a: a, b: b, scale: Double(x.scale), mask: x.mask, prior: x.prior, tokens: c.tokens,
        inFeatures: c.inFeatures, outFeatures: c.outFeatures, rank: c.rank
      ).output)
  }

  static let small: [Case] = [
    Case(tokens: 1, inFeatures: 7, outFeatures: 6, rank: 3, dropout: false),
    Case(tokens: 5, inFeatures: 7, outFeatures: 6, rank: 3, dropout: false),
    Case(tokens: 5, inFeatures: 7, outFeatures: 6, rank: 3, dropout: true),
    Case(tokens: 4, inFeatures: 16, outFeatures: 9, rank: 1, dropout: true),
  ]

  @Test(arguments: small)
  func forwardMatchesDoubleAndGradientsMatchFiniteDifferences(_ c: Case) {
    let x = Inputs(c)
    let (output, hidden) = forward(c, x)
    let want = loraDouble(
      x: doubles(x.x), a: doubles(x.a), b: doubles(x.b), scale: Double(x.scale), mask: x.mask, prior: x.prior,
      tokens: c.tokens, inFeatures: c.inFeatures, outFeatures: c.outFeatures, rank: c.rank)
    // Sums of ≤ 16 products: a few u of the terms.
    #expect(normwiseRelativeError(output, want.output) <= relativeTolerance)
    #expect(normwiseRelativeError(hidden, want.hidden) <= relativeTolerance)

    let z = zeros(c)
    let got = backward(c, x, hidden: hidden, dx: z.dx, da: z.da, db: z.db)
    let (xs, a, b) = (doubles(x.x), doubles(x.a), doubles(x.b))
    #expect(normwiseRelativeError(got.dx, centralDifferences(xs) { loss(c, x, $0, a, b) }) <= gradientTolerance)
    #expect(normwiseRelativeError(got.da, centralDifferences(a) { loss(c, x, xs, $0, b) }) <= gradientTolerance)
    #expect(normwiseRelativeError(got.db, centralDifferences(b) { loss(c, x, xs, a, $0) }) <= gradientTolerance)
  }

  @Test(arguments: [false, true])
  func gradientsAccumulate(dropout: Bool) {
    let c = Case(tokens: 3, inFeatures: 10, outFeatures: 4, rank: 2, dropout: dropout)
    let x = Inputs(c)
    let hidden = forward(c, x).hidden
    let z = zeros(c)
    let fresh = backward(c, x, hidden: hidden, dx: z.dx, da: z.da, db: z.db)
    let prior = (
      randomFloats(z.dx.count, seed: 1), randomFloats(z.da.count, seed: 2), randomFloats(z.db.count, seed: 3)
    )
    let got = backward(c, x, hidden: hidden, dx: prior.0, da: prior.1, db: prior.2)
    // BLAS with beta = 1 adds the new product to C once per call: equal to prior + fresh up to one rounding each.
    #expect(normwiseRelativeError(got.dx, zip(prior.0, fresh.dx).map { Double($0) + Double($1) }) <= relativeTolerance)
    #expect(normwiseRelativeError(got.da, zip(prior.1, fresh.da).map { Double($0) + Double($1) }) <= relativeTolerance)
    #expect(normwiseRelativeError(got.db, zip(prior.2, fresh.db).map { Double($0) + Double($1) }) <= relativeTolerance)
  }

  /// Wide inputs make the kernels work in several row blocks (65,536 floats of scratch: 32 rows of 2048 in the
  /// forward, 31 in the backward with dropout). Per-coordinate differences over 140k inputs would be slow, so this
  /// checks directional derivatives: (L(θ + h·v) − L(θ − h·v)) / 2h against ⟨∇L, v⟩ for random directions v.
  @Test(arguments: [false, true])
  func rowBlocksAgreeWithDirectionalDerivatives(dropout: Bool) {
    let c = Case(tokens: 70, inFeatures: 2048, outFeatures: 3, rank: 2, dropout: dropout)
    let x = Inputs(c)
    let (output, hidden) = forward(c, x)
    let (xs, a, b) = (doubles(x.x), doubles(x.a), doubles(x.b))
    let want = loraDouble(
      x: xs, a: a, b: b, scale: Double(x.scale), mask: x.mask, prior: x.prior, tokens: c.tokens,
      inFeatures: c.inFeatures, outFeatures: c.outFeatures, rank: c.rank)
    // Sums of 2048 products, blocked by BLAS: ≈ 2048/8 u ≈ 1.5e-5 worst case (measured 3.5e-7), so 1e-4 here.
    #expect(normwiseRelativeError(hidden, want.hidden) <= 1e-4)
    #expect(normwiseRelativeError(output, want.output) <= 1e-4)

    let z = zeros(c)
    let got = backward(c, x, hidden: hidden, dx: z.dx, da: z.da, db: z.db)
    for seed in UInt64(1)...3 {
      let vx = doubles(randomFloats(xs.count, seed: seed * 10))
      let va = doubles(randomFloats(a.count, seed: seed * 10 + 1))
      let vb = doubles(randomFloats(b.count, seed: seed * 10 + 2))
      let h = 1e-5
      func along(_ sign: Double) -> Double {
        loss(
          c, x, zip(xs, vx).map { $0 + sign * h * $1 }, zip(a, va).map { $0 + sign * h * $1 },
          zip(b, vb).map { $0 + sign * h * $1 })
      }
      let numeric = (along(1) - along(-1)) / (2 * h)
      var analytic = 0.0
      var magnitude = 0.0
      for (gradient, direction) in [(got.dx, vx), (got.da, va), (got.db, vb)] {
        for (gi, vi) in zip(gradient, direction) {
          analytic += Double(gi) * vi
          magnitude += abs(Double(gi) * vi)
        }
      }
      // Relative to Σ|∇L_i·v_i|, since the inner product itself may cancel.
      #expect(abs(analytic - numeric) <= gradientTolerance * magnitude)
    }
  }
}
