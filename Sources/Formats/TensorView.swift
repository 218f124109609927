public import Quantization

/// How a tensor's elements are stored. GGML types cover floats and the quantized block formats; the rest are the
/// plain integer types a safetensors file may hold (the NF4 file stores its packed codes as uint8).
public enum ElementType: Sendable, Equatable, CustomStringConvertible {
  case ggml(GGMLType)
  case uint8, uint16, uint32, uint64, bool
  case unknown(String)

  public var description: String {
    switch self {
    case .ggml(let type): type.name
    case .uint8: "U8"
    case .uint16: "U16"
    case .uint32: "U32"
    case .uint64: "U64"
    case .bool: "BOOL"
    case .unknown(let name): name
    }
  }

  /// Bytes for `elements` elements, or nil if unknown, not a whole number of blocks, or overflowing.
  public func byteCount(elements: Int) -> Int? {
    switch self {
    case .ggml(let type): return type.byteCount(elements: elements)
    case .uint8, .bool: return elements
    case .uint16: return elements.multipliedReportingOverflow(by: 2).overflow ? nil : elements * 2
    case .uint32: return elements.multipliedReportingOverflow(by: 4).overflow ? nil : elements * 4
    case .uint64: return elements.multipliedReportingOverflow(by: 8).overflow ? nil : elements * 8
    case .unknown: return nil
    }
  }

  /// The GGML type when it is one the decoders turn into fp32.
  public var decodable: GGMLType? {
    if case .ggml(let type) = self, type.isDecodable { return type }
    return nil
  }
}

/// A tensor inside a mapped file: name, shape, storage type and where its bytes are. Borrowed: valid while the file
/// object that produced it lives (the model keeps its files alive).
///
/// `shape` is row-major, outermost first, as PyTorch and safetensors write it: a linear layer's weight is
/// [outFeatures, inFeatures]. (GGUF lists dimensions innermost first; its reader reverses them.)
public struct TensorView: @unchecked Sendable {
  // @unchecked Sendable: points into a read-only mapping.
  public let name: String
  public let shape: [Int]
  public let type: ElementType
  public let data: UnsafeRawPointer
  public let byteCount: Int
  /// Byte offset of the data in its file, for page advice (prefetch / drop by layer).
  public let fileOffset: Int
  public let path: String

  public init(
    name: String, shape: [Int], type: ElementType, data: UnsafeRawPointer, byteCount: Int, fileOffset: Int, path: String
  ) {
    self.name = name
    self.shape = shape
    self.type = type
    self.data = data
    self.byteCount = byteCount
    self.fileOffset = fileOffset
    self.path = path
  }

  public var elementCount: Int { shape.reduce(1, *) }
  public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: data, count: byteCount) }
}

/// Element count of a shape, or nil when a dimension is negative or the product overflows.
func checkedElementCount(_ shape: [Int]) -> Int? {
  var total = 1
  for d in shape {
    guard d >= 0 else { return nil }
    let (product, overflow) = total.multipliedReportingOverflow(by: d)
    if overflow { return nil }
    total = product
  }
  return total
}
