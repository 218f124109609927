/// A bounds-checked little-endian cursor over mapped bytes: every read either succeeds inside the buffer or throws
/// `FormatError.truncated` naming the file, the offset and what was being read. Never traps on hostile input.
struct ByteReader {
  let bytes: UnsafeRawBufferPointer
  let path: String
  private(set) var offset: Int

  init(_ bytes: UnsafeRawBufferPointer, path: String, offset: Int = 0) {
    self.bytes = bytes
    self.path = path
    self.offset = offset
  }

  var remaining: Int { bytes.count - offset }

  mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: @autoclosure () -> String) throws(FormatError) -> T {
    let size = MemoryLayout<T>.size
    guard remaining >= size, let base = bytes.baseAddress else {
      throw .truncated(path: path, offset: bytes.count, reading: what())
    }
    let value = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    offset += size
    return value
  }

  mutating func readFloat(_ what: @autoclosure () -> String) throws(FormatError) -> Float {
    Float(bitPattern: try read(UInt32.self, what()))
  }

  mutating func readDouble(_ what: @autoclosure () -> String) throws(FormatError) -> Double {
    Double(bitPattern: try read(UInt64.self, what()))
  }

  /// A byte count read from the file, checked against what is left so a corrupt length cannot trigger a huge
  /// allocation or an out-of-range read.
  mutating func readLength(_ what: @autoclosure () -> String, elementSize: Int = 1) throws(FormatError) -> Int {
    let start = offset
    let raw = try read(UInt64.self, what())
    guard raw <= UInt64(Int.max / max(elementSize, 1)), Int(raw) * elementSize <= remaining else {
      throw .invalidHeader(
        path: path, offset: start,
        reason: "\(what()) claims \(raw) elements but only \(remaining) bytes remain: the file is truncated or corrupt")
    }
    return Int(raw)
  }

  mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String) throws(FormatError) -> UnsafeRawBufferPointer
  {
    guard count >= 0, remaining >= count else { throw .truncated(path: path, offset: bytes.count, reading: what()) }
    let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    offset += count
    return slice
  }

  /// A GGUF string: u64 length then UTF-8 bytes. Invalid UTF-8 is repaired (U+FFFD), since names are only shown.
  mutating func readString(_ what: @autoclosure () -> String) throws(FormatError) -> String {
    let length = try readLength(what())
    let raw = try readBytes(length, what())
    return String(decoding: raw, as: UTF8.self)
  }

  mutating func skip(_ count: Int, _ what: @autoclosure () -> String) throws(FormatError) {
    _ = try readBytes(count, what())
  }
}
