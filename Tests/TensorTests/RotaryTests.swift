import Foundation
import Tensor
import Testing

/// Naive twin of the Hugging Face rotary embedding (transformers' `rotate_half` + `apply_rotary_pos_emb`), in Double:
/// inv_freq[i] = 1 / base^(2i / rotaryDim); within each head, element i (i < rotaryDim/2) pairs with i + rotaryDim/2,
/// q' = q·cos + rotate_half(q)·sin; elements rotaryDim..<headDim pass through (partial rotary).
func rotaryReference(
  _ x: [Float], positions: Range<Int>, heads: Int, headDim: Int, rotaryDim: Int, rowStride: Int, base: Double
) -> [Double] {
  var y = x.map(Double.init)
  let half = rotaryDim / 2
  for (t, p) in positions.enumerated() {
    for h in 0..<heads {
      let o = t * rowStride + h * headDim
      for i in 0..<half {
        let angle = Double(p) / pow(base, Double(2 * i) / Double(rotaryDim))
        let a = Double(x[o + i])
        let b = Double(x[o + i + half])
        y[o + i] = a * cos(angle) - b * sin(angle)
        y[o + i + half] = b * cos(angle) + a * sin(angle)
      }
    }
  }
  return y
}

@Suite struct RotaryTests {
  struct Shape: Sendable, CustomTestStringConvertible {
    var tokens: Int, heads: Int, headDim: Int, rotaryDim: Int, padding: Int, start: Int
    var testDescription: String {
      "T\(tokens) h\(heads) hd\(headDim) rot\(rotaryDim) pad\(padding) start\(start)"
    }
  }

  static let shapes: [Shape] = [
    Shape(tokens: 1, heads: 1, headDim: 2, rotaryDim: 2, padding: 0, start: 0),
    Shape(tokens: 5, heads: 3, headDim: 8, rotaryDim: 8, padding: 0, start: 0),
    Shape(tokens: 4, heads: 2, headDim: 64, rotaryDim: 64, padding: 5, start: 100),
    Shape(tokens: 3, heads: 4, headDim: 16, rotaryDim: 8, padding: 0, start: 7),  // partial rotary
    Shape(tokens: 2, heads: 2, headDim: 32, rotaryDim: 16, padding: 3, start: 4090),  // partial, far position
  ]

  @Test(arguments: [(8, 8, 10_000.0), (64, 64, 10_000.0), (32, 16, 500_000.0)])
  func tableMatchesDouble(headDim: Int, rotaryDim: Int, base: Double) {
    let rope = RotaryEmbedding(headDim: headDim, rotaryDim: rotaryDim, base: base)
    let positions = 3..<40
    let half = rotaryDim / 2
    var c = [Float](repeating: .nan, count: positions.count * half)
    var s = [Float](repeating: .nan, count: positions.count * half)
    rope.table(positions: positions, cos: &c, sin: &s)
    var wantC = [Double]()
    var wantS = [Double]()
    for p in positions {
      for i in 0..<half {
        let angle = Double(p) / pow(base, Double(2 * i) / Double(rotaryDim))
        wantC.append(cos(angle))
        wantS.append(sin(angle))
      }
    }
    // Angles are computed in Double, so each entry is a correctly rounded Float of a value in [-1, 1].
    #expect(normwiseRelativeError(c, wantC) <= relativeTolerance)
    #expect(normwiseRelativeError(s, wantS) <= relativeTolerance)
    // Position 0 (not in this range) would be the identity; the first frequency is always 1 rad per position.
    #expect(abs(Double(c[0]) - cos(3.0)) < 1e-7)
  }

  @Test(arguments: shapes)
  func rotaryForwardMatchesDouble(_ shape: Shape) {
    let base = 10_000.0
    let rowStride = shape.heads * shape.headDim + shape.padding
    let positions = shape.start..<(shape.start + shape.tokens)
    let original = randomFloats(shape.tokens * rowStride, seed: UInt64(shape.headDim * 31 + shape.tokens), in: -2...2)
    let rope = RotaryEmbedding(headDim: shape.headDim, rotaryDim: shape.rotaryDim, base: base)
    let half = shape.rotaryDim / 2
    var c = [Float](repeating: 0, count: shape.tokens * half)
    var s = c
    rope.table(positions: positions, cos: &c, sin: &s)

    var x = original
    rotaryForward(
      &x, tokens: shape.tokens, heads: shape.heads, headDim: shape.headDim, rotaryDim: shape.rotaryDim,
      rowStride: rowStride, cos: c, sin: s)
    let want = rotaryReference(
      original, positions: positions, heads: shape.heads, headDim: shape.headDim, rotaryDim: shape.rotaryDim,
      rowStride: rowStride, base: base)
    // Each output is a·cos ∓ b·sin with Float cos/sin: a few u of |a| + |b| ≤ 4, so well inside 1e-5 of ‖x‖∞.
    #expect(normwiseRelativeError(x, want) <= relativeTolerance)

    // Pass-through dimensions (partial rotary) and row padding are bit-for-bit untouched.
    for t in 0..<shape.tokens {
      for h in 0..<shape.heads {
        for i in shape.rotaryDim..<shape.headDim {
          let k = t * rowStride + h * shape.headDim + i
          #expect(x[k] == original[k], "t\(t) h\(h) i\(i) changed")
        }
      }
      let padding = (t * rowStride + shape.heads * shape.headDim)..<((t + 1) * rowStride)
      for k in padding { #expect(x[k] == original[k]) }
    }
  }

  @Test func rotationPreservesPairNorms() {
    // A rotation changes no pair's length: |(x_i, x_{i+half})| is the same before and after.
    let headDim = 16
    let half = 8
    let original = randomFloats(headDim, seed: 3)
    let rope = RotaryEmbedding(headDim: headDim, rotaryDim: headDim, base: 10_000)
    var c = [Float](repeating: 0, count: half)
    var s = c
    rope.table(positions: 12..<13, cos: &c, sin: &s)
    var x = original
    rotaryForward(&x, tokens: 1, heads: 1, headDim: headDim, rotaryDim: headDim, rowStride: headDim, cos: c, sin: s)
    for i in 0..<half {
      let before = Double(original[i] * original[i] + original[i + half] * original[i + half])
      let after = Double(x[i] * x[i] + x[i + half] * x[i + half])
      #expect(abs(after - before) <= 1e-5 * max(before, 1e-3))
    }
  }
}
