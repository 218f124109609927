/// One GGUF metadata value, of any of the spec's thirteen value types.
/// ref: ggml docs/gguf.md, "gguf_metadata_value_type".
public enum GGUFValue: Sendable, Equatable {
  case uint8(UInt8)
  case int8(Int8)
  case uint16(UInt16)
  case int16(Int16)
  case uint32(UInt32)
  case int32(Int32)
  case float32(Float)
  case bool(Bool)
  case string(String)
  case uint64(UInt64)
  case int64(Int64)
  case float64(Double)
  case array([GGUFValue])

  /// The value as an integer, if it is one of the integer types (or a bool) and fits.
  public var int: Int? {
    switch self {
    case .uint8(let v): Int(v)
    case .int8(let v): Int(v)
    case .uint16(let v): Int(v)
    case .int16(let v): Int(v)
    case .uint32(let v): Int(v)
    case .int32(let v): Int(v)
    case .uint64(let v): Int(exactly: v)
    case .int64(let v): Int(v)
    case .bool(let v): v ? 1 : 0
    default: nil
    }
  }

  public var double: Double? {
    switch self {
    case .float32(let v): Double(v)
    case .float64(let v): v
    default: int.map(Double.init)
    }
  }

  public var bool: Bool? {
    if case .bool(let v) = self { return v }
    return int.map { $0 != 0 }
  }

  public var string: String? {
    if case .string(let v) = self { return v }
    return nil
  }

  public var array: [GGUFValue]? {
    if case .array(let v) = self { return v }
    return nil
  }

  /// A short rendering for `inspect`: arrays show their length and first items.
  public var summary: String {
    switch self {
    case .string(let s): s.count > 120 ? "\"\(s.prefix(117))...\" (\(s.count) chars)" : "\"\(s)\""
    case .array(let items):
      "[" + items.prefix(4).map(\.summary).joined(separator: ", ")
        + (items.count > 4 ? ", ... (\(items.count) items)]" : "]")
    case .float32(let v): "\(v)"
    case .float64(let v): "\(v)"
    case .bool(let v): "\(v)"
    default: int.map { "\($0)" } ?? "?"
    }
  }

  /// Reads a value of GGUF value type `type` (the u32 from the file).
  static func read(type: UInt32, from reader: inout ByteReader, key: String, depth: Int = 0) throws(FormatError)
    -> GGUFValue
  {
    // Built only when an error needs it: a token list calls this once per element.
    var what: String { "metadata value of '\(displayName(key))'" }
    switch type {
    case 0: return .uint8(try reader.read(UInt8.self, what))
    case 1: return .int8(try reader.read(Int8.self, what))
    case 2: return .uint16(try reader.read(UInt16.self, what))
    case 3: return .int16(try reader.read(Int16.self, what))
    case 4: return .uint32(try reader.read(UInt32.self, what))
    case 5: return .int32(try reader.read(Int32.self, what))
    case 6: return .float32(try reader.readFloat(what))
    case 7:
      let start = reader.offset
      let raw = try reader.read(UInt8.self, what)
      guard raw <= 1 else {
        throw .invalidHeader(
          path: reader.path, offset: start, reason: "bool value \(raw) of '\(displayName(key))' is neither 0 nor 1")
      }
      return .bool(raw == 1)
    case 8: return .string(try reader.readString(what))
    case 9:
      let start = reader.offset
      guard depth < 2 else {
        throw .invalidHeader(
          path: reader.path, offset: start, reason: "arrays nested too deeply in '\(displayName(key))'")
      }
      let elementType = try reader.read(UInt32.self, "array type of '\(displayName(key))'")
      let count = try reader.readLength(
        "array length of '\(displayName(key))'", elementSize: minimumSize(of: elementType))
      var items: [GGUFValue] = []
      items.reserveCapacity(count)
      for _ in 0..<count { items.append(try read(type: elementType, from: &reader, key: key, depth: depth + 1)) }
      return .array(items)
    case 10: return .uint64(try reader.read(UInt64.self, what))
    case 11: return .int64(try reader.read(Int64.self, what))
    case 12: return .float64(try reader.readDouble(what))
    default:
      throw .invalidHeader(
        path: reader.path, offset: reader.offset - 4, reason: "unknown value type \(type) for '\(displayName(key))'")
    }
  }

  /// The fewest bytes one element of a value type can take, to bound array lengths by the bytes left.
  static func minimumSize(of type: UInt32) -> Int {
    switch type {
    case 0, 1, 7: 1
    case 2, 3: 2
    case 4, 5, 6: 4
    case 8, 10, 11, 12: 8
    case 9: 12
    default: 1
    }
  }
}
