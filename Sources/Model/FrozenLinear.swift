public import Memory
public import Tensor

/// Per-worker tile buffers for decoding frozen weights. One tile holds `tileFloats` floats, sized to stay in L2 so a
/// decoded tile is consumed by the product while still in cache.
public struct DecodeTiles: ~Copyable {
  public static let defaultTileFloats = 48 * 1024
  public let workers: Int
  public let tileFloats: Int
  let storage: AnonymousBuffer<Float>

  public init(workers: Int, tileFloats: Int = DecodeTiles.defaultTileFloats, ledger: MemoryLedger) throws(MemoryError) {
    self.workers = max(1, workers)
    self.tileFloats = tileFloats
    self.storage = try AnonymousBuffer(count: self.workers * tileFloats, label: "scratch", ledger: ledger)
  }

  /// Rows per tile for a matrix of `cols` columns: a multiple of 8, at least 8.
  public func rowsPerTile(cols: Int) -> Int { max(8, tileFloats / max(cols, 1) / 8 * 8) }

  func tile(_ worker: Int) -> UnsafeMutablePointer<Float> { storage.pointer + worker * tileFloats }
}

/// output (tokens × rows, leading dimension ldOutput) = input (tokens × cols) · Wᵀ, with W decoded tile by tile.
///
/// The workers split W's rows; each decodes `rowsPerTile` rows into its own tile and multiplies with a single-threaded
/// BLAS call. `accumulate` adds into output instead of overwriting (LoRA and residual paths use it).
/// - Parameters: input (tokens, weight.cols); output (tokens, ldOutput) with ldOutput ≥ weight.rows.
public func frozenLinearForward(
  input: UnsafePointer<Float>, tokens: Int, weight: any FrozenMatrix, output: UnsafeMutablePointer<Float>,
  ldOutput: Int,
  tiles: borrowing DecodeTiles, accumulate: Bool = false
) {
  let rowsPerTile = tiles.rowsPerTile(cols: weight.cols)
  let cols = weight.cols
  let rows = weight.rows
  let inputPointer = SendableConstPointer(input)
  let outputPointer = SendablePointer(output)
  let tileBase = SendablePointer(tiles.storage.pointer)
  let tileFloats = tiles.tileFloats
  @Sendable func linearOneRow(_ row: Int) {
    // Only reached when cols > tileFloats; allocation here is rare and bounded by one row.
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: cols)
    defer { buffer.deallocate() }
    weight.decodeRows(row..<(row + 1), into: buffer)
    for t in 0..<tokens {
      let value = dot(inputPointer.pointer + t * cols, buffer, count: cols)
      let out = outputPointer.pointer + t * ldOutput + row
      out.pointee = accumulate ? out.pointee + value : value
    }
  }
  let workers = min(tiles.workers, (rows + rowsPerTile - 1) / rowsPerTile)
  parallelParts(workers) { part in
    let tile = tileBase.pointer + part * tileFloats
    let mine = partition(rows, parts: workers, part: part, granule: rowsPerTile)
    var r = mine.lowerBound
    while r < mine.upperBound {
      let n = min(rowsPerTile, mine.upperBound - r)
      if n * cols > tileFloats {
        // A row longer than a tile (huge input dimension): decode and multiply one row at a time.
        for row in r..<(r + n) { linearOneRow(row) }
      } else {
        weight.decodeRows(r..<(r + n), into: tile)
        BLAS.gemmABt(
          m: tokens, n: n, k: cols, a: inputPointer.pointer, lda: cols, b: tile, ldb: cols,
          beta: accumulate ? 1 : 0, c: outputPointer.pointer + r, ldc: ldOutput)
      }
      r += n
    }
  }
}
