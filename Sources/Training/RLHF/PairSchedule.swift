import Foundation

/// The order in which an objective visits its pairs: every pair once per epoch, in a seeded shuffle drawn anew
/// each epoch. Its state is two integers, so a checkpoint resumes at the very next pair.
public struct PairSchedule: Codable, Equatable, Sendable {
  let count: Int
  let seed: UInt64
  private(set) var epoch = 0
  private(set) var position = 0
  private var order: [Int] = []

  enum CodingKeys: String, CodingKey { case count, seed, epoch, position }

  init(count: Int, seed: UInt64) {
    precondition(count > 0, "a schedule needs pairs")
    self.count = count
    self.seed = seed
    order = Self.order(count: count, seed: seed, epoch: 0)
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    count = try c.decode(Int.self, forKey: .count)
    seed = try c.decode(UInt64.self, forKey: .seed)
    epoch = try c.decode(Int.self, forKey: .epoch)
    position = try c.decode(Int.self, forKey: .position)
    guard count > 0, position >= 0, position <= count, epoch >= 0 else {
      throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "inconsistent pair schedule"))
    }
    order = Self.order(count: count, seed: seed, epoch: epoch)
  }

  static func order(count: Int, seed: UInt64, epoch: Int) -> [Int] {
    var order = Array(0..<count)
    var random = DataRandom(seed: seed, stream: [0x5052_4546, UInt64(epoch)])
    random.shuffle(&order)
    return order
  }

  /// The next pair's index.
  mutating func next() -> Int {
    if position == count {
      epoch += 1
      position = 0
      order = Self.order(count: count, seed: seed, epoch: epoch)
    }
    defer { position += 1 }
    return order[position]
  }

  /// This schedule (saved by a checkpoint) if it was made over `pairs` pairs, the data it is to continue over.
  func checked(pairs: Int) throws -> PairSchedule {
    guard count == pairs else {
      throw TrainingError.invalidOption(
        name: "resume", reason: "the checkpoint was made on \(count) pairs, this data has \(pairs)")
    }
    return self
  }
}
