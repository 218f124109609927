/// The vocabulary as flat arrays: every token's bytes concatenated, and an open-addressing index from bytes to id.
///
/// A token is stored as the bytes it stands for: a byte-level string (`Ġthe`) as its decoded bytes (` the`), a
/// special or unmappable one as its own UTF-8, with `rawText` telling the two apart, so that the stored string is
/// recovered exactly (`tokenString`). About 14 B per token plus its bytes, where `[String]` and `[String: Int32]`
/// cost ~150 B.
/// ref: GPT-2 byte-to-unicode (`ByteLevel`); open addressing with linear probing, Knuth TAOCP vol. 3 §6.4.
struct TokenVocabulary: Sendable {
  /// Concatenated bytes of every token; `offsets[id]..<offsets[id + 1]` indexes it, (V + 1).
  let bytes: [UInt8]
  let offsets: [Int32]
  /// Whether the id's string is its bytes as UTF-8 (specials, strings that are not byte-level) rather than their
  /// byte-level mapping, (V).
  let rawText: [Bool]
  /// Ids by hash of their bytes, -1 for an empty slot; a power of two at most half full. A string that repeats keeps
  /// its first id only.
  let slots: [Int32]
  /// Whether any token has `rawText` (then a lookup by string probes twice).
  let hasRawText: Bool

  var count: Int { rawText.count }

  /// Builds the index over tokens appended with `append`.
  struct Builder {
    var bytes: [UInt8] = []
    var offsets: [Int32] = [0]
    var rawText: [Bool] = []

    init(capacity: Int) {
      offsets.reserveCapacity(capacity + 1)
      rawText.reserveCapacity(capacity)
      bytes.reserveCapacity(capacity * 6)
    }

    /// Appends the token whose string is `utf8`; a special's string is raw text, another's is decoded from its
    /// byte-level mapping when it has one (HF's ByteLevel decoder keeps the others as they are).
    mutating func append(utf8: UnsafeBufferPointer<UInt8>, special: Bool, source: String) throws {
      let start = bytes.count
      let mapped = !special && ByteLevel.decodeUTF8(utf8, into: &bytes)
      if !mapped {
        bytes.removeSubrange(start...)
        bytes.append(contentsOf: utf8)
      }
      guard bytes.count < Int(Int32.max) else {
        throw TokenizerError(.invalidValue, source: source, location: "vocabulary", "has more than 2 GiB of text")
      }
      offsets.append(Int32(bytes.count))
      rawText.append(!mapped)
    }

    mutating func append(_ token: String, special: Bool, source: String) throws {
      var text = token
      try text.withUTF8 { try append(utf8: $0, special: special, source: source) }
    }

    func finish() -> TokenVocabulary {
      var capacity = 16
      while capacity < 2 * rawText.count { capacity *= 2 }
      var slots = [Int32](repeating: -1, count: capacity)
      bytes.withUnsafeBufferPointer { all in
        offsets.withUnsafeBufferPointer { offsets in
          slots.withUnsafeMutableBufferPointer { slots in
            for id in 0..<rawText.count {
              let token = UnsafeBufferPointer(rebasing: all[Int(offsets[id])..<Int(offsets[id + 1])])
              var slot = TokenVocabulary.hash(token) & (capacity - 1)
              var repeated = false
              while slots[slot] >= 0 {
                let other = Int(slots[slot])
                if rawText[other] == rawText[id],
                  TokenVocabulary.equal(token, all, Int(offsets[other]), Int(offsets[other + 1]))
                {
                  repeated = true
                  break
                }
                slot = (slot + 1) & (capacity - 1)
              }
              if !repeated { slots[slot] = Int32(id) }
            }
          }
        }
      }
      return TokenVocabulary(
        bytes: bytes, offsets: offsets, rawText: rawText, slots: slots, hasRawText: rawText.contains(true))
    }
  }

  /// FNV-1a over the bytes, multiplied up so that the low bits (the slot) depend on every byte.
  /// ref: Fowler, Noll, Vo, "FNV hash" (IETF draft-eastlake-fnv).
  @inline(__always)
  static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) >> 32)
  }

  @inline(__always)
  static func equal(_ query: UnsafeBufferPointer<UInt8>, _ all: UnsafeBufferPointer<UInt8>, _ lower: Int, _ upper: Int)
    -> Bool
  {
    guard upper - lower == query.count else { return false }
    for k in 0..<query.count where query[k] != all[lower + k] { return false }
    return true
  }

  /// The first id stored as exactly `bytes` with this `raw` flag.
  func id(ofBytes query: UnsafeBufferPointer<UInt8>, raw: Bool) -> Int32? {
    bytes.withUnsafeBufferPointer { all in
      offsets.withUnsafeBufferPointer { offsets in
        slots.withUnsafeBufferPointer { slots in
          let mask = slots.count - 1
          var slot = Self.hash(query) & mask
          while slots[slot] >= 0 {
            let id = Int(slots[slot])
            if rawText[id] == raw, Self.equal(query, all, Int(offsets[id]), Int(offsets[id + 1])) {
              return Int32(id)
            }
            slot = (slot + 1) & mask
          }
          return nil
        }
      }
    }
  }

  /// The first id whose string has this UTF-8: stored as its byte-level decoding or as the text itself.
  func id(ofUTF8 text: UnsafeBufferPointer<UInt8>) -> Int32? {
    let mapped = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(text.count, 1)) { buffer in
      ByteLevel.decodeUTF8(text, into: buffer).flatMap {
        id(ofBytes: UnsafeBufferPointer(rebasing: buffer[..<$0]), raw: false)
      }
    }
    guard hasRawText, let raw = id(ofBytes: text, raw: true) else { return mapped }
    return min(raw, mapped ?? raw)
  }

  func id(of token: String) -> Int32? {
    var text = token
    return text.withUTF8 { id(ofUTF8: $0) }
  }

  /// The id of the byte-level string of `word` (HF `ignore_merges` looks words up by string).
  func id(ofWordBytes word: UnsafeBufferPointer<UInt8>) -> Int32? {
    let mapped = id(ofBytes: word, raw: false)
    guard hasRawText else { return mapped }
    let raw = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2 * word.count) { buffer in
      id(ofBytes: UnsafeBufferPointer(rebasing: buffer[..<ByteLevel.encodeUTF8(word, into: buffer)]), raw: true)
    }
    guard let raw else { return mapped }
    return min(raw, mapped ?? raw)
  }

  /// Calls `body` with the stored bytes of an id (in range).
  func withTokenBytes<R>(_ id: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
    try bytes.withUnsafeBufferPointer { all in
      try body(UnsafeBufferPointer(rebasing: all[Int(offsets[Int(id)])..<Int(offsets[Int(id) + 1])]))
    }
  }

  /// Calls `body` with the UTF-8 of the id's string as the vocabulary spells it (in range).
  func withTokenUTF8<R>(_ id: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
    try withTokenBytes(id) { stored in
      guard !rawText[Int(id)] else { return try body(stored) }
      return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(2 * stored.count, 1)) { buffer in
        try body(UnsafeBufferPointer(rebasing: buffer[..<ByteLevel.encodeUTF8(stored, into: buffer)]))
      }
    }
  }

  /// The id's string as the vocabulary spells it (in range).
  func tokenString(_ id: Int32) -> String {
    withTokenUTF8(id) { String(decoding: $0, as: UTF8.self) }
  }

  /// The first id whose string repeats an earlier id's (a tokenizer.json vocabulary cannot hold one), if any.
  func firstRepeatedID() -> Int? {
    (0..<count).first { id in withTokenUTF8(Int32(id)) { self.id(ofUTF8: $0) } != Int32(id) }
  }
}
