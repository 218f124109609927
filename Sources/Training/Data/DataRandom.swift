/// The seeded generator behind every data-order decision (validation split, epoch shuffles, mixture draws).
///
/// SplitMix64: the whole state is one `UInt64`, so a stream position is saved in a checkpoint as one number.
/// Shuffles and bounded draws are our own (Fisher–Yates, rejection sampling) rather than the standard library's
/// `shuffle(using:)` / `random(in:using:)`, whose algorithms are not promised stable across toolchains: a saved
/// run must replay the same data order after a Swift upgrade.
/// ref: Steele, Lea, Flood, "Fast Splittable Pseudorandom Number Generators" (OOPSLA 2014).
public struct DataRandom: RandomNumberGenerator, Codable, Sendable, Equatable {
  public var state: UInt64

  public init(seed: UInt64) {
    state = seed
  }

  /// A generator for one sub-stream of `seed` (a source, an epoch), independent of the others' draws.
  public init(seed: UInt64, stream parts: [UInt64]) {
    var mixer = DataRandom(seed: seed)
    for part in parts { mixer = DataRandom(seed: mixer.next() ^ part) }
    self.init(seed: mixer.next())
  }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in `0..<bound`: draws below `2^64 mod bound` are rejected so every residue is equally likely.
  public mutating func below(_ bound: Int) -> Int {
    precondition(bound > 0, "bound must be positive")
    let bound = UInt64(bound)
    let threshold = (0 &- bound) % bound
    while true {
      let draw = next()
      if draw >= threshold { return Int(draw % bound) }
    }
  }

  /// Uniform in [0, 1), from the top 53 bits.
  public mutating func unit() -> Double {
    Double(next() >> 11) * 0x1p-53
  }

  /// Fisher–Yates, last position first.
  public mutating func shuffle<Element>(_ array: inout [Element]) {
    guard array.count > 1 else { return }
    for i in stride(from: array.count - 1, to: 0, by: -1) {
      let j = below(i + 1)
      if i != j { array.swapAt(i, j) }
    }
  }
}
