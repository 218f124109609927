/// GPT-2's reversible byte-to-Unicode mapping, used by byte-level BPE vocabularies.
///
/// Printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) map to themselves; the other 68 bytes map, in order,
/// to U+0100, U+0101, …  so that every token string is printable (a space becomes `Ġ`, a newline `Ċ`).
/// ref: openai/gpt-2 `encoder.py` `bytes_to_unicode`; huggingface/tokenizers `pre_tokenizers/byte_level.rs`.
enum ByteLevel {
  /// Byte → Unicode scalar value (256 entries).
  static let byteToScalar: [UInt32] = {
    var table = [UInt32](repeating: 0, count: 256)
    var next: UInt32 = 256
    for byte in 0..<256 {
      let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
      if printable {
        table[byte] = UInt32(byte)
      } else {
        table[byte] = next
        next += 1
      }
    }
    return table
  }()

  /// Unicode scalar value → byte, for scalars below 0x144; -1 where the scalar is not a mapped byte.
  static let scalarToByte: [Int16] = {
    var table = [Int16](repeating: -1, count: 0x144)
    for (byte, scalar) in byteToScalar.enumerated() {
      table[Int(scalar)] = Int16(byte)
    }
    return table
  }()

  /// The bytes a byte-level token string stands for, or nil if some character is not a mapped byte
  /// (then the string is taken as raw UTF-8, as HF's ByteLevel decoder does).
  static func decode(_ token: String) -> [UInt8]? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(token.utf8.count)
    for scalar in token.unicodeScalars {
      let value = Int(scalar.value)
      guard value < scalarToByte.count, scalarToByte[value] >= 0 else { return nil }
      bytes.append(UInt8(scalarToByte[value]))
    }
    return bytes
  }

  /// The byte-level token string for raw bytes (inverse of `decode`).
  static func encode(_ bytes: some Sequence<UInt8>) -> String {
    var text = String.UnicodeScalarView()
    for byte in bytes {
      text.append(Unicode.Scalar(byteToScalar[Int(byte)])!)
    }
    return String(text)
  }
}
