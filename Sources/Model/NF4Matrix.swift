public import Formats
public import Quantization

/// A frozen matrix stored as NF4 in a mapped file, decoded tile by tile: the base weights of every fine-tune.
public struct NF4Matrix: FrozenMatrix, @unchecked Sendable {
  // @unchecked Sendable: the decoder reads a read-only mapping owned by the model's file object.
  public let name: String
  public let rows: Int
  public let cols: Int
  public let decoder: NF4Decoder
  public let fileRange: Range<Int>
  public let storageBytes: Int
  /// File offset of the packed codes, or nil for matrices over buffers (no file to advise).
  let packedFileOffset: Int?

  public init(_ tensor: NF4ModelFile.QuantizedTensor) throws(FormatError) {
    guard tensor.shape.count == 2 else {
      throw .invalidShape(path: "", tensor: tensor.name, reason: "expected a matrix, found shape \(tensor.shape)")
    }
    self.name = tensor.name
    self.rows = tensor.shape[0]
    self.cols = tensor.shape[1]
    self.decoder = tensor.decoder
    self.fileRange = tensor.fileRange
    self.storageBytes = tensor.storageBytes
    self.packedFileOffset = tensor.packedFileOffset
  }

  /// A matrix over NF4 parts held elsewhere (benchmarks and tests decode from buffers they own).
  public init(name: String, rows: Int, cols: Int, decoder: NF4Decoder, storageBytes: Int) {
    self.name = name
    self.rows = rows
    self.cols = cols
    self.decoder = decoder
    self.fileRange = 0..<0
    self.storageBytes = storageBytes
    self.packedFileOffset = nil
  }

  /// The packed codes of `rows` (the scales are 1/128 of that and stay until the whole matrix is dropped).
  public func storageRange(rows range: Range<Int>) -> Range<Int>? {
    guard let packedFileOffset else { return nil }
    return (packedFileOffset + range.lowerBound * cols / 2)..<(packedFileOffset + (range.upperBound * cols + 1) / 2)
  }

  public func decodeRows(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
    precondition(range.lowerBound >= 0 && range.upperBound <= rows, "row range outside the matrix")
    decoder.decode((range.lowerBound * cols)..<(range.upperBound * cols), into: destination)
  }
}

/// Weights from an EdgeTune NF4 file: quantized matrices as `NF4Matrix`, the rest (norms, biases, embeddings kept in
/// fp16/fp32) as plain tensors. Names and layout are Hugging Face's already.
struct NF4WeightSource: WeightSource {
  let file: NF4ModelFile
  var path: String { file.path }

  func has(_ hfName: String) -> Bool { file.contains(hfName) }

  func matrix(_ hfName: String, expected: [Int], config: ModelConfig) throws -> any FrozenMatrix {
    guard file.isQuantized(hfName) else { return try checkedMatrix(try file.tensor(hfName), expected: expected) }
    let tensor = try file.quantized(hfName)
    guard tensor.shape == expected else {
      throw ModelError.tensorShape(path: file.path, tensor: hfName, expected: expected, found: tensor.shape)
    }
    defer { giveBack(tensor.fileRange) }
    return try NF4Matrix(tensor)
  }

  func vector(_ hfName: String, count: Int) throws -> [Float] {
    let view = try file.tensor(hfName)
    defer { giveBack(view.fileOffset..<(view.fileOffset + view.byteCount)) }
    return try decodeVector(view, count: count)
  }

  /// Unmaps what reading a tensor's small parts (quant state, code tables, a norm vector) faulted in. On a freshly
  /// written file the page cache holds large folios, and one read fault maps a whole folio (up to 2 MiB) of the
  /// packed codes around them: without this, loading maps most of the model before any pass runs (measured with a
  /// just-converted SmolLM2: VmHWM 71 MiB at load for a run that streams in 60). Passes fault in what they use.
  private func giveBack(_ range: Range<Int>) {
    file.file.adviseDontNeed(WeightPlan.folioAligned(range))
  }
}
