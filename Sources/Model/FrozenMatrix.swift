public import Formats
public import Quantization

/// A frozen weight matrix (rows = output features, cols = input features) that is never held whole in fp32:
/// every consumer asks for a tile of rows, decoded on demand into a caller-owned buffer.
///
/// This is the one interface between the model and stored weights. GGUF block types, fp16/bf16/fp32 safetensors and
/// (next) NF4 tensors all implement it, so forward and backward code does not know the storage.
public protocol FrozenMatrix: Sendable {
  var rows: Int { get }
  var cols: Int { get }
  var name: String { get }
  /// Decodes rows `rows` into `destination`, row-major (rows.count × cols).
  func decodeRows(_ rows: Range<Int>, into destination: UnsafeMutablePointer<Float>)
  /// The byte range of the file that holds this matrix, for prefetch and page dropping.
  var fileRange: Range<Int> { get }
  /// Bytes of storage (for bits-per-weight and memory plans).
  var storageBytes: Int { get }
  /// The file bytes that hold `rows`, where rows map to one contiguous range; nil when they do not (or no file).
  /// Streaming drops a big matrix's pages tile by tile with it.
  func storageRange(rows: Range<Int>) -> Range<Int>?
}

extension FrozenMatrix {
  public func storageRange(rows: Range<Int>) -> Range<Int>? { nil }
}

/// A matrix stored in a GGML type (F32, F16, BF16, the legacy and K quants), rows contiguous, in a mapped file.
///
/// `rowOrder` implements the GGUF→Hugging Face Q/K un-permutation without copying: canonical row r is stored at
/// row `rowOrder[r]`. llama.cpp's converter permutes Q/K rows of each head so that its adjacent-pair rotary can be used;
/// we read them back in Hugging Face order and use rotate_half everywhere.
public struct GGMLMatrix: FrozenMatrix, @unchecked Sendable {
  // @unchecked Sendable: reads a read-only mapping owned by the model's file objects.
  public let name: String
  public let rows: Int
  public let cols: Int
  public let type: GGMLType
  public let data: UnsafeRawPointer
  public let rowBytes: Int
  public let fileRange: Range<Int>
  private let rowOrder: [Int32]?

  /// - Throws: `FormatError.unsupportedType` when the type cannot be decoded, `.invalidShape` when not 2-D.
  public init(_ view: TensorView, rowOrder: [Int32]? = nil) throws(FormatError) {
    guard view.shape.count == 2 || (view.shape.count == 1 && view.shape[0] > 0) else {
      throw .invalidShape(path: view.path, tensor: view.name, reason: "expected a matrix, found shape \(view.shape)")
    }
    guard let type = view.type.decodable else {
      throw .unsupportedType(path: view.path, tensor: view.name, type: view.type.description)
    }
    let rows = view.shape.count == 2 ? view.shape[0] : 1
    let cols = view.shape.last!
    guard cols % type.blockSize == 0, let rowBytes = type.byteCount(elements: cols), rowBytes * rows == view.byteCount
    else {
      throw .invalidShape(
        path: view.path, tensor: view.name, reason: "row length \(cols) does not fit \(type.name) blocks")
    }
    precondition(rowOrder == nil || rowOrder!.count == rows, "row order must cover every row")
    self.name = view.name
    self.rows = rows
    self.cols = cols
    self.type = type
    self.data = view.data
    self.rowBytes = rowBytes
    self.fileRange = view.fileOffset..<(view.fileOffset + view.byteCount)
    self.rowOrder = rowOrder
  }

  public var storageBytes: Int { rowBytes * rows }

  public func storageRange(rows range: Range<Int>) -> Range<Int>? {
    guard !range.isEmpty else { return nil }
    // Permuted Q/K rows stay within their head, so the stored rows of a range span at most its heads.
    let first = rowOrder.map { order in Int(order[range].min()!) } ?? range.lowerBound
    let last = rowOrder.map { order in Int(order[range].max()!) } ?? (range.upperBound - 1)
    return (fileRange.lowerBound + first * rowBytes)..<(fileRange.lowerBound + (last + 1) * rowBytes)
  }

  public func decodeRows(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
    precondition(range.lowerBound >= 0 && range.upperBound <= rows, "row range outside the matrix")
    if let rowOrder {
      for (i, r) in range.enumerated() {
        ggmlDecode(type, from: data + Int(rowOrder[r]) * rowBytes, to: destination + i * cols, count: cols)
      }
    } else {
      ggmlDecode(type, from: data + range.lowerBound * rowBytes, to: destination, count: range.count * cols)
    }
  }
}

/// llama.cpp's Q/K permutation for one projection: within each head of `headDim` rows, Hugging Face row i lives at
/// GGUF row 2i for i < headDim/2 and 2(i − headDim/2) + 1 after. Returns, per canonical row, its stored row.
/// ref: llama.cpp convert_hf_to_gguf.py, LlamaModel.permute (reshape(n_head, 2, dim/2, ...).swapaxes(1, 2)).
public func llamaCppRowOrder(heads: Int, headDim: Int) -> [Int32] {
  var order = [Int32](repeating: 0, count: heads * headDim)
  let half = headDim / 2
  for h in 0..<heads {
    for i in 0..<headDim {
      let stored = i < half ? 2 * i : 2 * (i - half) + 1
      order[h * headDim + i] = Int32(h * headDim + stored)
    }
  }
  return order
}
