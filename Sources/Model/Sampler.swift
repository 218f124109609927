import Glibc

/// xoshiro256** seeded through SplitMix64: a small, fast, reproducible generator, so `--seed` gives the same text
/// on every machine. ref: Blackman & Vigna, "Scrambled Linear Pseudorandom Number Generators" (2018).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var s: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var x = seed
    func splitMix() -> UInt64 {
      x &+= 0x9E37_79B9_7F4A_7C15
      var z = x
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  public mutating func next() -> UInt64 {
    let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
    let t = s.1 << 17
    s.2 ^= s.0
    s.3 ^= s.1
    s.1 ^= s.2
    s.0 ^= s.3
    s.2 ^= t
    s.3 = s.3 << 45 | s.3 >> 19
    return result
  }

  /// Uniform in [0, 1) with 24 bits, enough for sampling float probabilities.
  public mutating func nextUnit() -> Double { Double(next() >> 40) / Double(1 << 24) }
}

/// Picks the next token from logits: greedy at temperature 0, otherwise temperature, then top-k, then top-p
/// (nucleus) filtering, then a draw. ref: Holtzman et al. 2019, "The Curious Case of Neural Text Degeneration".
public struct Sampler: Sendable {
  public var temperature: Float
  public var topK: Int
  public var topP: Float
  private var generator: SeededGenerator

  public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
    self.generator = SeededGenerator(seed: seed)
  }

  public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
    if temperature <= 0 { return Int32(argmax(logits)) }
    // Candidates sorted by logit; only the top-k (or all) are kept.
    var candidates = Array(logits.indices)
    let keep = topK > 0 ? min(topK, candidates.count) : candidates.count
    if keep < candidates.count {
      candidates = partialTop(logits, count: keep)
    } else {
      candidates.sort { logits[$0] > logits[$1] }
    }
    let maximum = logits[candidates[0]]
    var probabilities = candidates.map { Double(expf((logits[$0] - maximum) / temperature)) }
    let total = probabilities.reduce(0, +)
    for i in probabilities.indices { probabilities[i] /= total }
    var cutoff = probabilities.count
    if topP < 1 {
      var cumulative = 0.0
      for (i, p) in probabilities.enumerated() {
        cumulative += p
        if cumulative >= Double(topP) {
          cutoff = i + 1
          break
        }
      }
    }
    let mass = probabilities[..<cutoff].reduce(0, +)
    var draw = generator.nextUnit() * mass
    for i in 0..<cutoff {
      draw -= probabilities[i]
      if draw < 0 { return Int32(candidates[i]) }
    }
    return Int32(candidates[cutoff - 1])
  }

  /// The `count` largest entries' indices, sorted descending.
  private func partialTop(_ logits: UnsafeBufferPointer<Float>, count: Int) -> [Int] {
    var top: [Int] = []
    top.reserveCapacity(count + 1)
    for i in logits.indices {
      if top.count == count, logits[i] <= logits[top[count - 1]] { continue }
      var j = top.count
      top.append(i)
      while j > 0, logits[top[j - 1]] < logits[i] {
        top[j] = top[j - 1]
        j -= 1
      }
      top[j] = i
      if top.count > count { top.removeLast() }
    }
    return top
  }
}

/// Index of the largest value (the first one on ties, as numpy's argmax).
public func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
  var best = 0
  for i in x.indices where x[i] > x[best] { best = i }
  return best
}
