extension BPETokenizer {
  /// The bytes `ids` stand for, specials included as their text; ids outside the vocabulary are skipped.
  public func decodeBytes(_ ids: [Int32]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(ids.count * 4)
    vocabulary.bytes.withUnsafeBufferPointer { all in
      vocabulary.offsets.withUnsafeBufferPointer { offsets in
        for id in ids where id >= 0 && Int(id) < offsets.count - 1 {
          let lower = Int(offsets[Int(id)])
          let upper = Int(offsets[Int(id) + 1])
          bytes.append(contentsOf: UnsafeBufferPointer(rebasing: all[lower..<upper]))
        }
      }
    }
    return bytes
  }

  /// The text `ids` stand for; bytes that are not valid UTF-8 become U+FFFD, one per maximal invalid
  /// subpart, as HF's `decode` (Rust `String::from_utf8_lossy`) does.
  /// ref: Unicode 15 §3.9 "U+FFFD Substitution of Maximal Subparts".
  public func decode(_ ids: [Int32]) -> String {
    String(decoding: decodeBytes(ids), as: UTF8.self)
  }
}
