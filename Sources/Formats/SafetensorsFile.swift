internal import Memory
internal import Quantization

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

  /// A header larger than this is refused: real ones are a few hundred KiB (an .nf4 file's, with tokenizer.json in its
  /// metadata, about 2 MiB).
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
    let dataOffset = 8 + Int(headerLength)
    // The mapping is raw bytes never bound to another type; reading it as UInt8 is what a byte buffer means.
    let header = try Self.parseHeader(
      headerBytes.assumingMemoryBound(to: UInt8.self), path: path, dataOffset: dataOffset,
      dataSize: file.count - dataOffset)
    let metadata = header.metadata
    var entries = header.entries
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
}
