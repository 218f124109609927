/// Seeded inputs and Float-vs-Double comparison shared by the kernel tests.
///
/// Tolerances: every kernel here computes in Float (unit roundoff u = 2^-24 ≈ 6e-8). A sum of n terms carries at
/// most about n·u of their absolute sum in error (Higham, "Accuracy and Stability of Numerical Algorithms", §4.2);
/// the reductions below have n ≤ 64 per accumulator (the 576-wide RMSNorm sums 72 terms in each of 8 SIMD lanes),
/// so ≈ 72·u ≈ 4e-6, and element-wise functions (expf, sqrt) add a few u.
/// 1e-5 relative therefore holds with margin, while any indexing or formula error shows up as 1e-2 or worse.
let relativeTolerance = 1e-5

/// SplitMix64: a tiny seeded generator, so every failure is reproducible from its arguments.
struct SeededGenerator: RandomNumberGenerator {
  private var state: UInt64
  init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// `count` Floats uniform in `range`, from `seed`.
func randomFloats(_ count: Int, seed: UInt64, in range: ClosedRange<Float> = -1...1) -> [Float] {
  var generator = SeededGenerator(seed: seed)
  return (0..<count).map { _ in Float.random(in: range, using: &generator) }
}

/// ‖got − want‖∞ / ‖want‖∞ (normwise relative error); 0 when both are all zero.
func normwiseRelativeError(_ got: [Float], _ want: [Double]) -> Double {
  precondition(got.count == want.count, "compared arrays differ in length")
  var maxDifference = 0.0
  var maxWant = 0.0
  for (g, w) in zip(got, want) {
    maxDifference = max(maxDifference, abs(Double(g) - w))
    maxWant = max(maxWant, abs(w))
  }
  if maxDifference == 0 { return 0 }
  return maxWant == 0 ? .infinity : maxDifference / maxWant
}
