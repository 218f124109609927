extension BPETokenizer {
  /// FNV-1a (64-bit) over every token's text in id order: equal for the same vocabulary, different (with
  /// overwhelming likelihood) for another. Adapters trained on one base record it, so one made for another tokenizer
  /// is refused before it scores anything.
  public var fingerprint: String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for id in 0..<vocabularySize {
      vocabulary.withTokenUTF8(Int32(id)) { text in
        for byte in text { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
      }
      hash = (hash ^ 0xFF) &* 0x100_0000_01B3  // a separator no UTF-8 text contains
    }
    return String(hash, radix: 16)
  }
}
