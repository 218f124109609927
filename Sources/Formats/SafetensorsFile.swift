import Foundation
public import Memory
public import Quantization

/// One safetensors file mapped read-only: its JSON header and views of its tensors (nothing is copied).
/// ref: huggingface/safetensors README, "Format": u64 header size, JSON header, byte buffer.
public final class SafetensorsFile: @unchecked Sendable {
  // @unchecked Sendable: immutable after init; the mapping is read-only.
  public struct Entry: Sendable {
    public let name: String
    public let dtype: String
    public let type: ElementType
    public let shape: [Int]
    /// Absolute byte range in the file.
    public let range: Range<Int>
  }

  public let path: String
  /// `__metadata__`: free-form string pairs.
  public let metadata: [String: String]
  /// Tensors in data order.
  public let entries: [Entry]
  public let dataOffset: Int
  private let file: MappedFile
  private let index: [String: Int]

  /// A header larger than this is refused: real ones are a few hundred KiB.
  static let maximumHeaderBytes = 100 << 20

  public init(path: String) throws {
    let file = try MappedFile(path: path)
    var reader = ByteReader(file.bytes, path: path)
    let headerLength = try reader.read(UInt64.self, "header length")
    guard headerLength >= 2, headerLength <= UInt64(Self.maximumHeaderBytes), Int(headerLength) <= reader.remaining
    else {
      throw FormatError.invalidHeader(
        path: path, offset: 0,
        reason:
          "header length \(headerLength) is impossible for a file of \(file.count) bytes; not a safetensors file or truncated"
      )
    }
    let headerBytes = try reader.readBytes(Int(headerLength), "JSON header")
    guard headerBytes.first == UInt8(ascii: "{") else {
      throw FormatError.badMagic(path: path, expected: "safetensors", found: GGUFFile.describeMagic(file.bytes))
    }
    let header = try JSONFile.object(headerBytes, path: path)
    let dataOffset = 8 + Int(headerLength)
    let dataSize = file.count - dataOffset

    var metadata: [String: String] = [:]
    var entries: [Entry] = []
    for (name, value) in header {
      if name == "__metadata__" {
        guard let pairs = value as? [String: Any] else {
          throw FormatError.invalidHeader(path: path, offset: 8, reason: "__metadata__ is not an object")
        }
        for (k, v) in pairs {
          guard let s = v as? String else {
            throw FormatError.invalidHeader(
              path: path, offset: 8, reason: "__metadata__ value of '\(k)' is not a string")
          }
          metadata[k] = s
        }
        continue
      }
      entries.append(try Self.entry(name: name, value: value, path: path, dataOffset: dataOffset, dataSize: dataSize))
    }
    entries.sort { $0.range.lowerBound < $1.range.lowerBound }
    var index: [String: Int] = [:]
    for (i, e) in entries.enumerated() { index[e.name] = i }

    self.path = path
    self.metadata = metadata
    self.entries = entries
    self.dataOffset = dataOffset
    self.index = index
    self.file = file
  }

  public var fileSize: Int { file.count }

  public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

  public func tensor(_ name: String) throws(FormatError) -> TensorView {
    guard let entry = entry(name) else { throw .missingTensor(path: path, tensor: name) }
    guard let base = file.bytes.baseAddress else { throw .missingTensor(path: path, tensor: name) }
    return TensorView(
      name: name, shape: entry.shape, type: entry.type, data: base + entry.range.lowerBound,
      byteCount: entry.range.count,
      fileOffset: entry.range.lowerBound, path: path)
  }

  public func adviseWillNeed(_ range: Range<Int>) { file.adviseWillNeed(range) }
  public func adviseDontNeed(_ range: Range<Int>) { file.adviseDontNeed(range) }

  /// safetensors dtype names to storage types.
  static func elementType(_ dtype: String) -> ElementType {
    switch dtype {
    case "F32": .ggml(.f32)
    case "F16": .ggml(.f16)
    case "BF16": .ggml(.bf16)
    case "F64": .ggml(.f64)
    case "I8": .ggml(.i8)
    case "I16": .ggml(.i16)
    case "I32": .ggml(.i32)
    case "I64": .ggml(.i64)
    case "U8": .uint8
    case "U16": .uint16
    case "U32": .uint32
    case "U64": .uint64
    case "BOOL": .bool
    default: .unknown(dtype)
    }
  }

  private static func entry(name: String, value: Any, path: String, dataOffset: Int, dataSize: Int) throws(FormatError)
    -> Entry
  {
    guard let fields = value as? [String: Any], let dtype = fields["dtype"] as? String,
      let shapeValues = fields["shape"] as? [Any], let offsets = fields["data_offsets"] as? [Any], offsets.count == 2
    else {
      throw .invalidHeader(path: path, offset: 8, reason: "entry '\(name)' lacks dtype, shape or data_offsets")
    }
    var shape: [Int] = []
    for d in shapeValues {
      guard let n = d as? NSNumber, let i = Int(exactly: n.doubleValue), i >= 0 else {
        throw .invalidShape(path: path, tensor: name, reason: "dimension \(d) is not a non-negative integer")
      }
      shape.append(i)
    }
    guard let begin = (offsets[0] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }),
      let end = (offsets[1] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }), begin >= 0, begin <= end
    else {
      throw .invalidHeader(path: path, offset: 8, reason: "entry '\(name)' has invalid data_offsets \(offsets)")
    }
    guard end <= dataSize else {
      throw .tensorOutOfBounds(
        path: path, tensor: name, start: dataOffset + begin, end: dataOffset + end, fileSize: dataOffset + dataSize)
    }
    // Checked for every dtype, unknown ones too: `TensorView.elementCount` multiplies the dimensions.
    guard let elements = checkedElementCount(shape) else {
      throw .invalidShape(path: path, tensor: name, reason: "shape \(shape) overflows")
    }
    let type = elementType(dtype)
    if let expected = type.byteCount(elements: elements) {
      guard expected == end - begin else {
        throw .invalidShape(
          path: path, tensor: name,
          reason: "shape \(shape) of \(dtype) needs \(expected) bytes, data_offsets give \(end - begin)")
      }
    } else if case .unknown = type {
      // Listed for inspection; any attempt to decode it reports the type by name.
    } else {
      throw .invalidShape(
        path: path, tensor: name, reason: "shape \(shape) of \(dtype) has a byte count that overflows")
    }
    return Entry(name: name, dtype: dtype, type: type, shape: shape, range: (dataOffset + begin)..<(dataOffset + end))
  }
}
