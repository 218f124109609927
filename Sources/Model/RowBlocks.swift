import Memory
import Quantization
import Tensor

/// How the converters read a frozen matrix: in blocks of whole rows, each decoded to fp32 on every worker, handed on,
/// then the source's pages behind it dropped. A conversion holds one block's fp32 values (at most `budgetBytes` unless
/// one granule of rows is larger) and the source pages around it, whatever the size of the matrix: a 151,936 × 1,536
/// embedding (890 MiB in fp32) goes through in 4 MiB blocks.
enum RowBlocks {
  /// fp32 bytes of one block. Per-block costs (a write call, a page drop, two hand-offs to the workers) vanish at this
  /// size; more would only raise the peak.
  static let budgetBytes = 4 << 20

  /// Rows per block for a matrix of `rows` × `cols`: as many as fit in `budgetBytes`, a multiple of `granule` (rows
  /// that must stay together: whole NF4 blocks, whole heads), at least one granule, at most the matrix.
  static func rowCount(rows: Int, cols: Int, granule: Int) -> Int {
    precondition(rows > 0 && cols > 0 && granule > 0, "empty matrix or granule")
    let fitting = budgetBytes / (cols * 4) / granule * granule
    return min(rows, max(granule, fitting))
  }

  /// Rows that keep NF4 blocks of `blockSize` weights whole in a row-major matrix of `cols` columns.
  static func granule(cols: Int, blockSize: Int) -> Int {
    var (a, b) = (cols, blockSize)
    while b != 0 { (a, b) = (b, a % b) }
    return blockSize / a
  }

  /// Decodes `matrix` block by block (`rowCount` rows, the last block shorter) into one buffer reserved under
  /// "convert-source", calls `body(rows, values)` for each in order, and drops the source's pages behind each block
  /// (`LanguageModel.dropPages(of:before:)`) and all of them at the end.
  ///
  /// With `storedOrder` (llama.cpp's Q/K rows, `llamaCppRowOrder`), canonical row r is written at row
  /// `storedOrder[r]` of the output, so `values` holds the block in stored order; the order must map every block onto
  /// itself (a `granule` of whole heads does).
  /// - Parameters: body's values (rows.count, matrix.cols), valid during the call.
  static func forEach(
    _ matrix: any FrozenMatrix, of model: LanguageModel, granule: Int = 1, storedOrder: [Int32]? = nil,
    ledger: MemoryLedger, _ body: (Range<Int>, UnsafePointer<Float>) throws -> Void
  ) throws {
    let cols = matrix.cols
    let blockRows = rowCount(rows: matrix.rows, cols: cols, granule: granule)
    let buffer = try AnonymousBuffer<Float>(count: blockRows * cols, label: "convert-source", ledger: ledger)
    let out = SendablePointer(buffer.pointer)
    let parts = Threading.workers
    var start = 0
    while start < matrix.rows {
      let rows = start..<min(matrix.rows, start + blockRows)
      if let storedOrder {
        let first = rows.lowerBound
        precondition(rows.allSatisfy { rows.contains(Int(storedOrder[$0])) }, "row order leaves its block")
        parallelParts(parts) { part in
          for r in partition(rows.count, parts: parts, part: part) {
            let stored = Int(storedOrder[first + r]) - first
            matrix.decodeRows((first + r)..<(first + r + 1), into: out.pointer + stored * cols)
          }
        }
      } else {
        parallelParts(parts) { part in
          let own = partition(rows.count, parts: parts, part: part)
          guard !own.isEmpty else { return }
          matrix.decodeRows(
            (rows.lowerBound + own.lowerBound)..<(rows.lowerBound + own.upperBound),
            into: out.pointer + own.lowerBound * cols)
        }
      }
      try body(rows, buffer.pointer)
      model.dropPages(of: matrix, before: rows.upperBound)
      start = rows.upperBound
    }
  }

  /// A weight's values as the converters write them: a matrix block by block (`forEach`), a vector at once.
  /// - Parameters: body's values (count), valid during the call.
  static func forEach(
    _ weight: NamedWeight, of model: LanguageModel, granule: Int = 1, storedOrder: [Int32]? = nil,
    ledger: MemoryLedger, _ body: (UnsafePointer<Float>, Int) throws -> Void
  ) throws {
    switch weight.kind {
    case .matrix(let m, _):
      try forEach(m, of: model, granule: granule, storedOrder: storedOrder, ledger: ledger) { rows, values in
        try body(values, rows.count * m.cols)
      }
    case .vector(let v):
      try v.withUnsafeBufferPointer { try body($0.baseAddress!, v.count) }
    }
  }

  /// `values` as IEEE fp16 bits (round to nearest even, `halfBitsFromFloat`), converted on every worker into a buffer
  /// reserved under "convert-output", for `body`.
  /// - Parameters: values (count); body's bits (count), valid during the call.
  static func withHalves<R>(
    of values: UnsafePointer<Float>, count: Int, ledger: MemoryLedger, _ body: (UnsafePointer<UInt16>) throws -> R
  ) throws -> R {
    let half = try AnonymousBuffer<UInt16>(count: count, label: "convert-output", ledger: ledger)
    let input = SendableConstPointer(values)
    let out = SendablePointer(half.pointer)
    let parts = Threading.workers
    parallelParts(parts) { part in
      for i in partition(count, parts: parts, part: part) { out.pointer[i] = halfBitsFromFloat(input.pointer[i]) }
    }
    return try body(half.pointer)
  }

  /// `values` (count, rows of `cols`) quantized to `type` row by row on every worker (ggml's reference quantizers, so
  /// bytes equal llama-quantize's), into a buffer reserved under "convert-output", for `body`. `cols` must be a
  /// multiple of the type's block (`ModelExporter.storedType` sees to it).
  static func withQuantized<R>(
    _ type: GGMLType, of values: UnsafePointer<Float>, count: Int, cols: Int, ledger: MemoryLedger,
    _ body: (UnsafeRawBufferPointer) throws -> R
  ) throws -> R {
    let rowBytes = type.byteCount(elements: cols)!
    let rows = count / cols
    let output = try AnonymousBuffer<UInt8>(count: rows * rowBytes, label: "convert-output", ledger: ledger)
    let input = SendableConstPointer(values)
    let out = SendablePointer(output.pointer)
    let parts = Threading.workers
    parallelParts(parts) { part in
      for r in partition(rows, parts: parts, part: part) {
        ggmlQuantize(type, from: input.pointer + r * cols, count: cols, to: out.pointer + r * rowBytes)
      }
    }
    return try body(UnsafeRawBufferPointer(start: output.pointer, count: rows * rowBytes))
  }

  /// The first value of `values` that is NaN, infinite or (with `limit`) beyond ±limit, as text; nil when all are fine.
  static func firstNonFinite(_ values: UnsafePointer<Float>, count: Int, limit: Float?) -> String? {
    let bound = limit ?? .greatestFiniteMagnitude
    for i in 0..<count where !(abs(values[i]) <= bound) { return "\(values[i]) at element \(i) of a block" }
    return nil
  }
}
