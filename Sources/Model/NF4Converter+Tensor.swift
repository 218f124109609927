internal import Formats
import Memory
import Quantization
import Tensor

/// One NF4 tensor streamed to the file: its codes written block of rows by block of rows as they are quantized (they
/// come first among its parts), its block scales kept (count / blockSize floats) and double-quantized at the end.
extension NF4Converter {
  /// Quantizes `matrix` block of rows by block of rows (`RowBlocks`, whole NF4 blocks each) on every worker and writes
  /// its parts in the order `entries` plans them. Returns the relative RMSE of what the file decodes to (the
  /// double-quantized scales included), from `ErrorTerms`.
  /// - Throws: `ModelError.invalidConfig` naming the tensor and element when a value is not finite.
  static func writeNF4(
    _ matrix: any FrozenMatrix, of model: LanguageModel, writer: SafetensorsWriter, options: Options,
    ledger: MemoryLedger
  ) throws -> Double {
    let count = matrix.rows * matrix.cols
    let shape = [matrix.rows, matrix.cols]
    let blockSize = options.blockSize
    let layout = NF4Quantizer.Layout(count: count, blockSize: blockSize, nestedBlockSize: options.nestedBlockSize)
    let absmax = try AnonymousBuffer<Float>(count: layout.blocks, label: "convert-output", ledger: ledger)
    let terms = try ErrorTerms(blocks: layout.blocks, ledger: ledger)
    var sums = ErrorAccumulator()
    let granule = RowBlocks.granule(cols: matrix.cols, blockSize: blockSize)
    let blockRows = RowBlocks.rowCount(rows: matrix.rows, cols: matrix.cols, granule: granule)
    let codes = try AnonymousBuffer<UInt8>(
      count: (blockRows * matrix.cols + 1) / 2, label: "convert-output", ledger: ledger)
    let parts = Threading.workers
    let firstBad = SendablePointer(UnsafeMutablePointer<Int>.allocate(capacity: parts))
    defer { firstBad.pointer.deallocate() }
    let partials = SendablePointer(UnsafeMutablePointer<ErrorAccumulator>.allocate(capacity: parts))
    defer { partials.pointer.deallocate() }
    let packed = SendablePointer(codes.pointer)
    let scales = SendablePointer(absmax.pointer)
    let perBlock = SendablePointer(terms.perBlock.pointer)
    try RowBlocks.forEach(matrix, of: model, granule: granule, ledger: ledger) { rows, values in
      // The block of rows starts on an NF4 block boundary: its codes start on a whole byte of the tensor's.
      let first = rows.lowerBound * matrix.cols
      let n = rows.count * matrix.cols
      let input = SendableConstPointer(values)
      let blocks = (n + blockSize - 1) / blockSize
      parallelParts(parts) { part in
        let own = partition(blocks, parts: parts, part: part)
        let a = scales.pointer + first / blockSize
        firstBad.pointer[part] =
          NF4Quantizer.quantize(
            input.pointer, count: n, blockSize: blockSize, blocks: own, packed: packed.pointer, absmax: a)
          ?? -1
        partials.pointer[part] =
          firstBad.pointer[part] >= 0
          ? .init()
          : ErrorTerms.measure(
            input.pointer, count: n, blockSize: blockSize, blocks: own, packed: packed.pointer, absmax: a,
            perBlock: perBlock.pointer + 2 * (first / blockSize))
      }
      if let bad = (0..<parts).map({ firstBad.pointer[$0] }).first(where: { $0 >= 0 }) {
        throw ModelError.invalidConfig(
          path: writer.path,
          reason: "tensor '\(matrix.name)' holds a non-finite value at element \(first + bad); cannot quantize it")
      }
      for part in 0..<parts { sums.merge(partials.pointer[part]) }
      try writer.writePart(UnsafeRawBufferPointer(start: codes.pointer, count: (n + 1) / 2))
    }
    guard options.doubleQuantization else {
      try writer.write(UnsafeRawBufferPointer(start: absmax.pointer, count: layout.blocks * 4))
      try writeFloats(NF4Tables.code, writer)
      try writer.write(quantStateJSON(shape: shape, options: options, offset: nil))
      return terms.relativeRMSE(sums) { _ in 0 }
    }
    let nested = try writeNestedScales(
      absmax: absmax.pointer, layout: layout, shape: shape, options: options, writer: writer, label: "convert-output",
      ledger: ledger)
    return NF4Tables.dynamicMapSigned.withUnsafeBufferPointer { code8 in
      terms.relativeRMSE(sums) { b in
        let stored = NF4Quantizer.scale(
          q: nested.q.pointer[b], nestedAbsmax: nested.nestedAbsmax[b / options.nestedBlockSize],
          offset: nested.offset, code8: code8.baseAddress!)
        return Double(stored) - Double(absmax.pointer[b])
      }
    }
  }

  /// What `writeNF4` keeps for a whole tensor while its codes stream: the block absmax (4 bytes per block), the error
  /// terms (8), and at the end the 8-bit scales (1) and group scales (4 per group).
  static func keptBytes(_ layout: NF4Quantizer.Layout) -> Int { layout.blocks * 13 + layout.nestedBlocks * 4 }

  /// The double-quantized scales of one tensor, as written.
  struct NestedScales: ~Copyable {
    /// 8-bit code per block.
    let q: AnonymousBuffer<UInt8>
    /// fp32 absmax per group of `nestedBlockSize` blocks.
    let nestedAbsmax: [Float]
    /// The mean subtracted before quantizing (added back when decoding).
    let offset: Float
  }

  /// Double-quantizes a tensor's block absmax values and writes the parts that follow its packed codes, in the order
  /// `entries` plans them: 8-bit scales, NF4 table, group scales, 8-bit table, quant state.
  static func writeNestedScales(
    absmax: UnsafePointer<Float>, layout: NF4Quantizer.Layout, shape: [Int], options: Options,
    writer: SafetensorsWriter, label: String, ledger: MemoryLedger
  ) throws -> NestedScales {
    let q = try AnonymousBuffer<UInt8>(count: layout.blocks, label: label, ledger: ledger)
    var nestedAbsmax = [Float](repeating: 0, count: layout.nestedBlocks)
    let offset = nestedAbsmax.withUnsafeMutableBufferPointer { n in
      NF4Quantizer.doubleQuantize(
        absmax: absmax, blocks: layout.blocks, nestedBlockSize: layout.nestedBlockSize, q: q.pointer,
        nestedAbsmax: n.baseAddress!)
    }
    try writer.write(UnsafeRawBufferPointer(start: q.pointer, count: layout.blocks))
    try writeFloats(NF4Tables.code, writer)
    try writeFloats(nestedAbsmax, writer)
    try writeFloats(NF4Tables.dynamicMapSigned, writer)
    try writer.write(quantStateJSON(shape: shape, options: options, offset: offset))
    return NestedScales(q: q, nestedAbsmax: nestedAbsmax, offset: offset)
  }

  static func writeFloats(_ values: [Float], _ writer: SafetensorsWriter) throws {
    try values.withUnsafeBytes { try writer.write($0) }
  }
}

/// The squared error of an NF4 tensor against its source, gathered while the codes stream by and finished once the
/// stored scales are known: the codes are written before double quantization can run (it needs every block's absmax).
///
/// For block b with exact absmax a, stored scale a′ (double-quantized), δ = a′ − a and code values q_i (the NF4 table's
/// entries), Σ(x − q·a′)² = R_b − 2δ·r_b + δ²·Q_b, with R_b = Σ(x − q·a)², r_b = Σq(x − q·a), Q_b = Σq². ΣR_b is summed
/// in Double as blocks go by (q·a is exact in Double: two 24-bit significands); r_b and Q_b are kept per block as
/// Float (8 bytes per block, 1/32 of the block's fp32 values). They enter only through δ, 8-bit double
/// quantization's error (about 1% of a), so their fp32 rounding (2⁻²⁴) moves the total by 2⁻²⁴ of terms that are
/// themselves a few percent of it: the result is the error of the decoded tensor to ~1e-9, where expanding
/// Σx² − 2a′Σxq + a′²Σq² would cancel two leading digits and need both sums in Double. One difference from decoding:
/// the decoder rounds q·a′ to fp32, this does not (2⁻²⁴ of each weight). Σx and Σx² give the source's variance.
struct ErrorTerms: ~Copyable {
  /// (r_b, Q_b) per block, (blocks, 2).
  let perBlock: AnonymousBuffer<Float>

  init(blocks: Int, ledger: MemoryLedger) throws {
    perBlock = try AnonymousBuffer(count: 2 * blocks, label: "convert-output", ledger: ledger)
  }

  /// Measures blocks `blocks` of x against their codes and absmax (as `NF4Quantizer.quantize` left them): returns
  /// their element count, R (as the squared error), Σx and Σx²; stores their (r_b, Q_b).
  /// - Parameters: x (count); packed ((count + 1) / 2); absmax (the blocks of x); perBlock (2 per block of x).
  static func measure(
    _ x: UnsafePointer<Float>, count: Int, blockSize: Int, blocks: Range<Int>, packed: UnsafePointer<UInt8>,
    absmax: UnsafePointer<Float>, perBlock: UnsafeMutablePointer<Float>
  ) -> ErrorAccumulator {
    var total = ErrorAccumulator()
    NF4Tables.code.withUnsafeBufferPointer { code in
      for b in blocks {
        let a = Double(absmax[b])
        var correlation = 0.0
        var codeSquares = 0.0
        let elements = (b * blockSize)..<min(count, (b + 1) * blockSize)
        total.count += elements.count
        for i in elements {
          let byte = packed[i / 2]
          let q = Double(code[Int(i & 1 == 0 ? byte >> 4 : byte & 15)])
          let value = Double(x[i])
          let residual = value - q * a
          total.squaredError += residual * residual
          total.sum += value
          total.sumOfSquares += value * value
          correlation += q * residual
          codeSquares += q * q
        }
        perBlock[2 * b] = Float(correlation)
        perBlock[2 * b + 1] = Float(codeSquares)
      }
    }
    return total
  }

  /// RMSE / standard deviation of the source, with `delta(b)` = a′ − a of each block (0 for fp32 scales).
  /// - Parameters: sums (R, Σx and Σx² of the whole tensor, from `measure`).
  func relativeRMSE(_ sums: ErrorAccumulator, delta: (Int) -> Double) -> Double {
    var total = sums
    for b in 0..<(perBlock.count / 2) {
      let d = delta(b)
      if d != 0 {
        total.squaredError += d * (d * Double(perBlock.pointer[2 * b + 1]) - 2 * Double(perBlock.pointer[2 * b]))
      }
    }
    total.squaredError = max(0, total.squaredError)
    return total.relative
  }
}

/// Σ(decoded − original)², Σ original, Σ original² in Double: the relative RMSE of a stored tensor.
struct ErrorAccumulator {
  var count = 0
  var squaredError = 0.0
  var sum = 0.0
  var sumOfSquares = 0.0

  mutating func add(original: Float, decoded: Float) {
    let o = Double(original)
    let d = Double(decoded) - o
    count += 1
    squaredError += d * d
    sum += o
    sumOfSquares += o * o
  }

  /// Adds another part's sums (a worker's share of a tensor).
  mutating func merge(_ other: ErrorAccumulator) {
    count += other.count
    squaredError += other.squaredError
    sum += other.sum
    sumOfSquares += other.sumOfSquares
  }

  /// RMSE / standard deviation of the original (0 when the original is constant).
  var relative: Double {
    guard count > 0 else { return 0 }
    let mean = sum / Double(count)
    let variance = max(0, sumOfSquares / Double(count) - mean * mean)
    return variance > 0 ? (squaredError / Double(count)).squareRoot() / variance.squareRoot() : 0
  }
}
