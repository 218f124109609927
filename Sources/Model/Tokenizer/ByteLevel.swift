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

  /// The byte a byte-level character stands for, reading its UTF-8 at `i` (mapped characters are below U+0144, so one
  /// or two UTF-8 bytes); returns the byte and the UTF-8 length, nil when the character is not a mapped byte.
  @inline(__always)
  static func decodeCharacter(_ utf8: UnsafeBufferPointer<UInt8>, at i: Int) -> (byte: UInt8, length: Int)? {
    let lead = utf8[i]
    var scalar = Int(lead)
    var length = 1
    if lead >= 0x80 {
      guard (0xC2...0xC5).contains(lead), i + 1 < utf8.count, utf8[i + 1] & 0xC0 == 0x80 else { return nil }
      scalar = Int(lead & 0x1F) << 6 | Int(utf8[i + 1] & 0x3F)
      length = 2
    }
    guard scalar < scalarToByte.count, scalarToByte[scalar] >= 0 else { return nil }
    return (UInt8(scalarToByte[scalar]), length)
  }

  /// Appends the bytes a byte-level string (as UTF-8) stands for; false, with part of them appended, when some
  /// character is not a mapped byte. Works on UTF-8 so that a vocabulary loads without a `String` per token.
  static func decodeUTF8(_ utf8: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) -> Bool {
    var i = 0
    while i < utf8.count {
      guard let (byte, length) = decodeCharacter(utf8, at: i) else { return false }
      output.append(byte)
      i += length
    }
    return true
  }

  /// Writes the bytes a byte-level string (as UTF-8) stands for into `output` (at least `utf8.count` long);
  /// returns how many, nil when some character is not a mapped byte.
  static func decodeUTF8(_ utf8: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int? {
    var i = 0
    var count = 0
    while i < utf8.count {
      guard let (byte, length) = decodeCharacter(utf8, at: i) else { return nil }
      output[count] = byte
      count += 1
      i += length
    }
    return count
  }

  /// Writes the UTF-8 of the byte-level string for raw bytes into `output` (at least `2 * bytes.count` long);
  /// returns its length.
  static func encodeUTF8(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
    var count = 0
    for byte in bytes {
      let scalar = byteToScalar[Int(byte)]
      if scalar < 0x80 {
        output[count] = UInt8(scalar)
        count += 1
      } else {
        output[count] = UInt8(0xC0 | scalar >> 6)
        output[count + 1] = UInt8(0x80 | scalar & 0x3F)
        count += 2
      }
    }
    return count
  }
}
