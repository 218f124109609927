/// The BPE merge rules as one flat open-addressing table: key `left << 32 | right` → `rank << 32 | merged id`.
///
/// Slots are (key, value) pairs side by side, so a probe reads one cache line; keys hash by a Fibonacci multiply.
/// At most 3/4 full: 16 B per slot, ~21 B per rule, where `[UInt64: UInt64]` cost about the same but hashes with
/// SipHash on every lookup of the encode loop. The rules in rank order (for export) are read back from the table.
/// ref: Knuth TAOCP vol. 3 §6.4 (multiplicative hashing, linear probing).
struct MergeTable: Sendable {
  /// `2 * capacity` words: key, value, key, value, …; `empty` marks a free slot (ids stay below 2^31, so no key is
  /// all ones).
  let slots: [UInt64]
  /// The number of rules read, repeats included: ranks run below it.
  let ruleCount: Int
  static let empty = UInt64.max

  /// Rules added in rank order; a pair that repeats keeps its first (lowest) rank, as HF does.
  struct Builder {
    var slots: [UInt64]
    var ruleCount = 0

    init(capacity rules: Int) {
      var capacity = 16
      while capacity * 3 < rules * 4 { capacity *= 2 }
      slots = [UInt64](repeating: MergeTable.empty, count: 2 * capacity)
    }

    mutating func add(left: Int32, right: Int32, merged: Int32) {
      let key = MergeTable.key(left, right)
      let rank = UInt64(ruleCount)
      ruleCount += 1
      let mask = slots.count / 2 - 1
      let shift = UInt64(64 - (slots.count / 2).trailingZeroBitCount)
      var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
      while slots[2 * slot] != MergeTable.empty {
        if slots[2 * slot] == key { return }
        slot = (slot + 1) & mask
      }
      if (ruleCount - 1) * 4 >= (slots.count / 2) * 3 { grow() }
      insert(key, rank << 32 | UInt64(UInt32(merged)))
    }

    private mutating func insert(_ key: UInt64, _ value: UInt64) {
      let mask = slots.count / 2 - 1
      let shift = UInt64(64 - (slots.count / 2).trailingZeroBitCount)
      var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
      while slots[2 * slot] != MergeTable.empty { slot = (slot + 1) & mask }
      slots[2 * slot] = key
      slots[2 * slot + 1] = value
    }

    /// Doubles the table when more rules come than `init` was told.
    private mutating func grow() {
      let old = slots
      slots = [UInt64](repeating: MergeTable.empty, count: 2 * old.count)
      for slot in stride(from: 0, to: old.count, by: 2) where old[slot] != MergeTable.empty {
        insert(old[slot], old[slot + 1])
      }
    }

    func finish() -> MergeTable { MergeTable(slots: slots, ruleCount: ruleCount) }
  }

  @inline(__always)
  static func key(_ left: Int32, _ right: Int32) -> UInt64 {
    UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
  }

  /// Calls `body` with a view for lookups, so that a hot loop reads the slots without Array checks.
  func withView<R>(_ body: (View) throws -> R) rethrows -> R {
    try slots.withUnsafeBufferPointer { try body(View(slots: $0)) }
  }

  /// Lookups into the borrowed slots.
  struct View {
    let slots: UnsafeBufferPointer<UInt64>
    let mask: Int
    let shift: UInt64

    init(slots: UnsafeBufferPointer<UInt64>) {
      self.slots = slots
      mask = slots.count / 2 - 1
      shift = UInt64(64 - (slots.count / 2).trailingZeroBitCount)
    }

    /// `rank << 32 | merged id` of the rule for the pair, nil when there is none.
    @inline(__always)
    func rule(_ left: Int32, _ right: Int32) -> UInt64? {
      let key = MergeTable.key(left, right)
      var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
      while true {
        let stored = slots[2 * slot]
        if stored == key { return slots[2 * slot + 1] }
        if stored == MergeTable.empty { return nil }
        slot = (slot + 1) & mask
      }
    }
  }

  /// The rules as (left, right, merged) ids in rank order, repeats left out.
  func rulesByRank() -> [(left: Int32, right: Int32, merged: Int32)] {
    var keys = [UInt64](repeating: Self.empty, count: ruleCount)
    var merged = [Int32](repeating: -1, count: ruleCount)
    for slot in stride(from: 0, to: slots.count, by: 2) where slots[slot] != Self.empty {
      let rank = Int(slots[slot + 1] >> 32)
      keys[rank] = slots[slot]
      merged[rank] = Int32(truncatingIfNeeded: slots[slot + 1] & 0xFFFF_FFFF)
    }
    return zip(keys, merged).compactMap { key, id in
      key == Self.empty
        ? nil : (Int32(truncatingIfNeeded: key >> 32), Int32(truncatingIfNeeded: key & 0xFFFF_FFFF), id)
    }
  }
}
