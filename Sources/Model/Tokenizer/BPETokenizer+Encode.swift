import Foundation  // precomposedStringWithCanonicalMapping, for tokenizer.json files with an NFC normalizer

extension BPETokenizer {
  /// Token ids of `text`; never adds BOS (see `addBOS`).
  ///
  /// With `parseSpecial`, special tokens written in the text (`<|im_start|>`) become their ids; without it they
  /// are ordinary text. Bytes the vocabulary has no token for are dropped, as HF's BPE does without `unk_token`.
  public func encode(_ text: String, parseSpecial: Bool = true) -> [Int32] {
    var output: [Int32] = []
    output.reserveCapacity(text.utf8.count / 3 + 1)
    var scratch = EncodeScratch()
    var utf8 = text
    utf8.withUTF8 { bytes in
      var segmentStart = 0
      if parseSpecial && !specials.isEmpty {
        var i = 0
        while i < bytes.count {
          guard let match = specialMatch(bytes, at: i) else {
            i += 1
            continue
          }
          var segmentEnd = i
          if match.lstrip {
            while segmentEnd > segmentStart, Self.isASCIISpace(bytes[segmentEnd - 1]) { segmentEnd -= 1 }
          }
          encodeSegment(UnsafeBufferPointer(rebasing: bytes[segmentStart..<segmentEnd]), &scratch, &output)
          output.append(match.id)
          i += match.bytes.count
          if match.rstrip {
            while i < bytes.count, Self.isASCIISpace(bytes[i]) { i += 1 }
          }
          segmentStart = i
        }
      }
      encodeSegment(UnsafeBufferPointer(rebasing: bytes[segmentStart...]), &scratch, &output)
    }
    return output
  }

  @inline(__always)
  static func isASCIISpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || (0x09...0x0D).contains(byte)
  }

  /// The longest special token starting at byte `i`, if any.
  @inline(__always)
  func specialMatch(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> SpecialToken? {
    guard specialFirstBytes[Int(bytes[i])] else { return nil }
    for index in specialsByFirstByte[Int(bytes[i])] {
      let candidate = specials[Int(index)]
      let length = candidate.bytes.count
      guard i + length <= bytes.count else { continue }
      let equal = candidate.bytes.withUnsafeBufferPointer { token in
        memcmp(token.baseAddress!, bytes.baseAddress! + i, length) == 0
      }
      if equal { return candidate }
    }
    return nil
  }

  /// Pre-tokenizes one segment free of special tokens and appends the ids of its words.
  func encodeSegment(_ bytes: UnsafeBufferPointer<UInt8>, _ scratch: inout EncodeScratch, _ output: inout [Int32]) {
    guard !bytes.isEmpty else { return }
    if normalizeNFC {
      var normalized = String(decoding: bytes, as: UTF8.self).precomposedStringWithCanonicalMapping
      normalized.withUTF8 { encodeWords($0, &scratch, &output) }
    } else {
      encodeWords(bytes, &scratch, &output)
    }
  }

  func encodeWords(_ bytes: UnsafeBufferPointer<UInt8>, _ scratch: inout EncodeScratch, _ output: inout [Int32]) {
    scratch.text.load(bytes)
    scratch.ends.removeAll(keepingCapacity: true)
    PreTokenizer.split(scratch.text, kind: preTokenizer, into: &scratch.ends)
    let ends = scratch.ends
    let offsets = scratch.text.offsets
    var start = 0
    for end in ends {
      let lower = Int(offsets[start])
      let upper = Int(offsets[Int(end)])
      encodeWord(UnsafeBufferPointer(rebasing: bytes[lower..<upper]), &scratch, &output)
      start = Int(end)
    }
  }

  /// Appends the ids of one pre-tokenized word, through the per-call cache for words of up to 15 bytes.
  func encodeWord(_ word: UnsafeBufferPointer<UInt8>, _ scratch: inout EncodeScratch, _ output: inout [Int32]) {
    if word.count == 1 {
      let id = byteTokenIDs[Int(word[0])]
      if id >= 0 { output.append(id) }
      return
    }
    if ignoreMerges, let id = vocabulary.id(ofWordBytes: word) {
      output.append(id)
      return
    }
    guard word.count <= 15 else {
      bytePairMerge(word, &scratch)
      output.append(contentsOf: scratch.merged)
      return
    }
    var key = WordKey(low: 0, high: UInt64(word.count) << 56)
    for (k, byte) in word.enumerated() {
      if k < 8 {
        key.low |= UInt64(byte) << (8 * k)
      } else {
        key.high |= UInt64(byte) << (8 * (k - 8))
      }
    }
    if let range = scratch.cache[key] {
      output.append(contentsOf: scratch.cachedIDs[Int(range.lowerBound)..<Int(range.upperBound)])
      return
    }
    bytePairMerge(word, &scratch)
    let lower = Int32(scratch.cachedIDs.count)
    scratch.cachedIDs.append(contentsOf: scratch.merged)
    scratch.cache[key] = lower..<Int32(scratch.cachedIDs.count)
    output.append(contentsOf: scratch.merged)
  }

  /// Rank-ordered BPE of one word into `scratch.merged`: always merge the adjacent pair of lowest rank
  /// (leftmost on ties), with a min-heap of `rank << 32 | position` and lazy deletion of stale entries.
  /// ref: huggingface/tokenizers `models/bpe/word.rs` `merge_all`.
  func bytePairMerge(_ word: UnsafeBufferPointer<UInt8>, _ scratch: inout EncodeScratch) {
    scratch.merged.removeAll(keepingCapacity: true)
    var symbols = scratch.symbols
    symbols.removeAll(keepingCapacity: true)
    for byte in word {
      let id = byteTokenIDs[Int(byte)]
      if id >= 0 { symbols.append(id) }
    }
    defer { scratch.symbols = symbols }
    let n = symbols.count
    guard n > 1 else {
      scratch.merged.append(contentsOf: symbols)
      return
    }
    var next = scratch.next
    var previous = scratch.previous
    var heap = scratch.heap
    defer {
      scratch.next = next
      scratch.previous = previous
      scratch.heap = heap
    }
    next.removeAll(keepingCapacity: true)
    previous.removeAll(keepingCapacity: true)
    heap.removeAll(keepingCapacity: true)
    for i in 0..<n {
      next.append(i + 1 < n ? Int32(i + 1) : -1)
      previous.append(Int32(i - 1))
    }
    merges.withView { Self.mergeAll($0, n, &symbols, &next, &previous, &heap) }
    var i: Int32 = 0
    while i >= 0 {
      scratch.merged.append(symbols[Int(i)])
      i = next[Int(i)]
    }
  }

  /// The merge loop of `bytePairMerge`, apart so that its arrays are plain `inout` parameters rather than variables
  /// captured by the `withView` closure (which kept them boxed and cost ~40% of the loop).
  static func mergeAll(
    _ table: MergeTable.View, _ n: Int, _ symbols: inout [Int32], _ next: inout [Int32], _ previous: inout [Int32],
    _ heap: inout [UInt64]
  ) {
    for i in 0..<(n - 1) {
      if let found = table.rule(symbols[i], symbols[i + 1]) { Self.heapPush(&heap, found & ~0xFFFF_FFFF | UInt64(i)) }
    }
    while let top = Self.heapPop(&heap) {
      let position = Int(top & 0xFFFF_FFFF)
      let rank = top >> 32
      let right = Int(next[position])
      guard symbols[position] >= 0, right >= 0, let found = table.rule(symbols[position], symbols[right]),
        found >> 32 == rank
      else { continue }
      symbols[position] = Int32(truncatingIfNeeded: found & 0xFFFF_FFFF)
      symbols[right] = -1
      let after = next[right]
      next[position] = after
      if after >= 0 { previous[Int(after)] = Int32(position) }
      let before = previous[position]
      if before >= 0, let left = table.rule(symbols[Int(before)], symbols[position]) {
        Self.heapPush(&heap, left & ~0xFFFF_FFFF | UInt64(before))
      }
      if after >= 0, let rightRule = table.rule(symbols[position], symbols[Int(after)]) {
        Self.heapPush(&heap, rightRule & ~0xFFFF_FFFF | UInt64(position))
      }
    }
  }

  static func heapPush(_ heap: inout [UInt64], _ value: UInt64) {
    heap.append(value)
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[child] < heap[parent] else { break }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  static func heapPop(_ heap: inout [UInt64]) -> UInt64? {
    guard let last = heap.popLast() else { return nil }
    guard !heap.isEmpty else { return last }
    let top = heap[0]
    heap[0] = last
    var parent = 0
    let count = heap.count
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < count, heap[left] < heap[smallest] { smallest = left }
      if right < count, heap[right] < heap[smallest] { smallest = right }
      guard smallest != parent else { return top }
      heap.swapAt(parent, smallest)
      parent = smallest
    }
  }
}

/// Up to 15 bytes of a word packed with its length: the per-call BPE cache key.
struct WordKey: Hashable {
  var low: UInt64
  var high: UInt64
}

/// Buffers one `encode` call reuses for every segment and word.
struct EncodeScratch {
  var text = ScalarText()
  var ends: [Int32] = []
  var cache: [WordKey: Range<Int32>] = [:]
  var cachedIDs: [Int32] = []
  var merged: [Int32] = []
  var symbols: [Int32] = []
  var next: [Int32] = []
  var previous: [Int32] = []
  var heap: [UInt64] = []
}
