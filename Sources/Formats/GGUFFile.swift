internal import Memory
public import Quantization

/// A GGUF file (versions 2 and 3) mapped read-only: header, metadata, tensor infos, and views of tensor data that
/// point into the mapping (nothing is copied).
/// ref: ggml docs/gguf.md ("GGUF" file format specification).
public final class GGUFFile: @unchecked Sendable {
  // @unchecked Sendable: immutable after init; the mapping is read-only.
  public struct TensorInfo: Sendable {
    public let name: String
    /// Dimensions innermost first, as GGUF stores them (ne[0] is the row length).
    public let dimensions: [Int]
    public let rawType: UInt32
    /// nil when the type id is one EdgeTune does not know at all.
    public let type: GGMLType?
    /// Offset from the start of the data section.
    public let offset: Int
    /// Bytes of data, when the type is known.
    public let byteCount: Int?
    /// Row-major shape, outermost first.
    public var shape: [Int] { dimensions.reversed() }
    public var elementCount: Int { dimensions.reduce(1, *) }
    public var typeName: String { type?.name ?? "type \(rawType)" }
  }

  public let path: String
  public let version: Int
  public let metadata: [String: GGUFValue]
  /// Keys in file order, for display.
  public let metadataKeys: [String]
  public let tensors: [TensorInfo]
  public let alignment: Int
  /// Absolute offset of the data section.
  public let dataOffset: Int
  private let file: MappedFile
  private let index: [String: Int]

  public static let magic: UInt32 = 0x4655_4747  // "GGUF" little-endian

  public init(path: String) throws {
    let file = try MappedFile(path: path)
    var reader = ByteReader(file.bytes, path: path)
    let magic = try reader.read(UInt32.self, "magic")
    guard magic == Self.magic else {
      throw FormatError.badMagic(path: path, expected: "GGUF", found: Self.describeMagic(file.bytes))
    }
    let version = Int(try reader.read(UInt32.self, "version"))
    guard version == 2 || version == 3 else {
      throw FormatError.unsupportedVersion(path: path, version: version, supported: "2, 3")
    }
    // Each tensor info takes at least 8+4+8+4+8 bytes, each metadata pair at least 8+4+1.
    let tensorCount = try reader.readLength("tensor count", elementSize: 32)
    let metadataCount = try reader.readLength("metadata count", elementSize: 13)

    var metadata: [String: GGUFValue] = [:]
    var keys: [String] = []
    for _ in 0..<metadataCount {
      let keyOffset = reader.offset
      let key = try reader.readString("metadata key")
      let type = try reader.read(UInt32.self, "value type of '\(displayName(key))'")
      let value = try GGUFValue.read(type: type, from: &reader, key: key)
      guard metadata.updateValue(value, forKey: key) == nil else {
        throw FormatError.invalidHeader(
          path: path, offset: keyOffset, reason: "metadata key '\(displayName(key))' appears twice")
      }
      keys.append(key)
    }

    var alignment = 32
    if let value = metadata["general.alignment"] {
      guard let a = value.int, a > 0, a <= 1 << 20, a & (a - 1) == 0 else {
        throw FormatError.invalidMetadata(
          path: path, key: "general.alignment", reason: "\(value.summary) is not a power of two")
      }
      alignment = a
    }

    var infos: [TensorInfo] = []
    var index: [String: Int] = [:]
    infos.reserveCapacity(tensorCount)
    for i in 0..<tensorCount {
      let infoOffset = reader.offset
      let name = try reader.readString("name of tensor \(i)")
      let rank = Int(try reader.read(UInt32.self, "rank of '\(displayName(name))'"))
      guard (1...4).contains(rank) else {
        throw FormatError.invalidShape(path: path, tensor: name, reason: "rank \(rank) (GGUF allows 1 to 4)")
      }
      var dims: [Int] = []
      for _ in 0..<rank {
        let d = try reader.read(UInt64.self, "dimensions of '\(displayName(name))'")
        guard d <= UInt64(Int32.max) * 64 else {
          throw FormatError.invalidShape(path: path, tensor: name, reason: "dimension \(d) is implausibly large")
        }
        dims.append(Int(d))
      }
      guard let elements = checkedElementCount(dims) else {
        throw FormatError.invalidShape(path: path, tensor: name, reason: "element count overflows")
      }
      let rawType = try reader.read(UInt32.self, "type of '\(displayName(name))'")
      let offset = try reader.read(UInt64.self, "offset of '\(displayName(name))'")
      let type = GGMLType(rawValue: rawType)
      var byteCount: Int? = nil
      if let type {
        guard dims[0] % type.blockSize == 0 else {
          throw FormatError.invalidShape(
            path: path, tensor: name,
            reason: "row length \(dims[0]) is not a multiple of \(type.name)'s block of \(type.blockSize)")
        }
        guard let bytes = type.byteCount(elements: elements) else {
          throw FormatError.invalidShape(
            path: path, tensor: name, reason: "byte count of \(elements) \(type.name) elements overflows")
        }
        byteCount = bytes
      }
      guard offset % UInt64(alignment) == 0 else {
        throw FormatError.invalidHeader(
          path: path, offset: infoOffset,
          reason:
            "tensor '\(displayName(name))' has data offset \(offset), not a multiple of the alignment \(alignment)")
      }
      guard index.updateValue(infos.count, forKey: name) == nil else {
        throw FormatError.invalidHeader(
          path: path, offset: infoOffset, reason: "tensor '\(displayName(name))' appears twice")
      }
      // Clamped, not converted: an offset past the file is reported as out of bounds below, never trapped on here.
      infos.append(
        TensorInfo(
          name: name, dimensions: dims, rawType: rawType, type: type, offset: Int(clamping: offset),
          byteCount: byteCount))
    }

    let dataOffset = (reader.offset + alignment - 1) / alignment * alignment
    // Every tensor starts inside the file (unknown types too, so `tensor(_:)` can add without overflow); known
    // types end inside it.
    for info in infos {
      let (start, startOverflow) = dataOffset.addingReportingOverflow(info.offset)
      let (end, endOverflow) = start.addingReportingOverflow(info.byteCount ?? 0)
      guard !startOverflow, !endOverflow, end <= file.count else {
        throw FormatError.tensorOutOfBounds(
          path: path, tensor: info.name, start: startOverflow ? Int.max : start,
          end: startOverflow || endOverflow ? Int.max : end,
          fileSize: file.count)
      }
    }

    self.path = path
    self.version = version
    self.metadata = metadata
    self.metadataKeys = keys
    self.tensors = infos
    self.alignment = alignment
    self.dataOffset = dataOffset
    self.index = index
    self.file = file
  }

  public var fileSize: Int { file.count }

  public func info(_ name: String) -> TensorInfo? { index[name].map { tensors[$0] } }

  /// A view of a tensor's bytes; throws if it is missing or of a type whose size EdgeTune does not know.
  public func tensor(_ name: String) throws(FormatError) -> TensorView {
    guard let info = info(name) else { throw .missingTensor(path: path, tensor: name) }
    guard let type = info.type, let bytes = info.byteCount, let base = file.bytes.baseAddress else {
      throw .unsupportedType(path: path, tensor: name, type: info.typeName)
    }
    let start = dataOffset + info.offset
    return TensorView(
      name: name, shape: info.shape, type: .ggml(type), data: base + start, byteCount: bytes, fileOffset: start,
      path: path)
  }

  /// Page advice over a byte range of the file (prefetch or drop a layer's weights).
  public func adviseWillNeed(_ range: Range<Int>) { file.adviseWillNeed(range) }
  public func adviseDontNeed(_ range: Range<Int>) { file.adviseDontNeed(range) }

  // MARK: typed metadata access with errors that name the key

  public func requiredInt(_ key: String) throws(FormatError) -> Int {
    guard let value = metadata[key] else { throw .missingMetadata(path: path, key: key) }
    guard let int = value.int else {
      throw .invalidMetadata(path: path, key: key, reason: "\(value.summary) is not an integer")
    }
    return int
  }

  public func requiredString(_ key: String) throws(FormatError) -> String {
    guard let value = metadata[key] else { throw .missingMetadata(path: path, key: key) }
    guard let string = value.string else {
      throw .invalidMetadata(path: path, key: key, reason: "\(value.summary) is not a string")
    }
    return string
  }

  public func optionalDouble(_ key: String) throws(FormatError) -> Double? {
    guard let value = metadata[key] else { return nil }
    guard let double = value.double else {
      throw .invalidMetadata(path: path, key: key, reason: "\(value.summary) is not a number")
    }
    return double
  }

  public func stringArray(_ key: String) throws(FormatError) -> [String] {
    guard let value = metadata[key] else { throw .missingMetadata(path: path, key: key) }
    guard let items = value.array else { throw .invalidMetadata(path: path, key: key, reason: "not an array") }
    var result: [String] = []
    result.reserveCapacity(items.count)
    for item in items {
      guard let s = item.string else { throw .invalidMetadata(path: path, key: key, reason: "holds a non-string item") }
      result.append(s)
    }
    return result
  }

  public func intArray(_ key: String) throws(FormatError) -> [Int] {
    guard let value = metadata[key] else { throw .missingMetadata(path: path, key: key) }
    guard let items = value.array else { throw .invalidMetadata(path: path, key: key, reason: "not an array") }
    var result: [Int] = []
    result.reserveCapacity(items.count)
    for item in items {
      guard let i = item.int else { throw .invalidMetadata(path: path, key: key, reason: "holds a non-integer item") }
      result.append(i)
    }
    return result
  }

  static func describeMagic(_ bytes: UnsafeRawBufferPointer) -> String {
    let head = bytes.prefix(4)
    if head.isEmpty { return "nothing: the file is empty" }
    let printable = head.allSatisfy { $0 >= 0x20 && $0 < 0x7f }
    return printable
      ? "\"\(String(decoding: head, as: UTF8.self))\"" : head.map { String($0, radix: 16) }.joined(separator: " ")
  }
}
