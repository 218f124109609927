import Glibc

/// Rotary position embedding in the Hugging Face layout ("rotate_half"): within each head, element i pairs with
/// element i + rotaryDim/2. GGUF files from llama.cpp store Q/K rows permuted for the adjacent-pair convention;
/// the loaders undo that permutation, so this one convention serves every file format.
/// ref: Su et al. 2021, "RoFormer"; transformers' apply_rotary_pos_emb.
public struct RotaryEmbedding: Sendable {
  public let headDim: Int
  public let rotaryDim: Int
  public let base: Double
  /// inverse frequencies, rotaryDim/2 of them: base^(-2i/rotaryDim)
  private let inverseFrequencies: [Double]

  public init(headDim: Int, rotaryDim: Int, base: Double) {
    self.headDim = headDim
    self.rotaryDim = rotaryDim
    self.base = base
    self.inverseFrequencies = (0..<(rotaryDim / 2)).map { pow(base, -Double(2 * $0) / Double(rotaryDim)) }
  }

  /// Writes cos and sin of every (position, frequency) pair: each (positions.count, rotaryDim/2).
  public func table(
    positions: Range<Int>, cos cosOut: UnsafeMutablePointer<Float>, sin sinOut: UnsafeMutablePointer<Float>
  ) {
    let half = rotaryDim / 2
    for (row, p) in positions.enumerated() {
      for i in 0..<half {
        let angle = Double(p) * inverseFrequencies[i]
        cosOut[row * half + i] = Float(Glibc.cos(angle))
        sinOut[row * half + i] = Float(Glibc.sin(angle))
      }
    }
  }
}

/// Rotates every head of `x` in place.
/// - Parameters: x (tokens, heads·headDim) with row stride `rowStride`; cos, sin (tokens, rotaryDim/2) from `table`.
public func rotaryForward(
  _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDim: Int, rotaryDim: Int, rowStride: Int,
  cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
) {
  let half = rotaryDim / 2
  for t in 0..<tokens {
    let c = cos + t * half
    let s = sin + t * half
    for h in 0..<heads {
      let v = x + t * rowStride + h * headDim
      for i in 0..<half {
        let a = v[i]
        let b = v[i + half]
        v[i] = a * c[i] - b * s[i]
        v[i + half] = b * c[i] + a * s[i]
      }
    }
  }
}
