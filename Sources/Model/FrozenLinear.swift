public import Memory
internal import Tensor

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

/// inputGradient (tokens × weight.cols) += outputGradient (tokens × rows, leading dimension ldOutputGradient) · W:
/// the input gradient of a frozen linear layer, with W decoded tile by tile (frozen weights get no weight gradient).
///
/// Workers split W's rows as in the forward; each accumulates into its own partial sum (`partials`, at least
/// workers × tokens × cols floats) and the partials are added at the end, since every tile touches every input column.
public func frozenLinearBackward(
  outputGradient: UnsafePointer<Float>, ldOutputGradient: Int, tokens: Int, weight: any FrozenMatrix,
  inputGradient: UnsafeMutablePointer<Float>, tiles: borrowing DecodeTiles, partials: UnsafeMutablePointer<Float>
) {
  let rowsPerTile = tiles.rowsPerTile(cols: weight.cols)
  let cols = weight.cols
  let rows = weight.rows
  let workers = min(tiles.workers, (rows + rowsPerTile - 1) / rowsPerTile)
  let gradient = SendableConstPointer(outputGradient)
  let output = SendablePointer(inputGradient)
  let partial = SendablePointer(partials)
  let tileBase = SendablePointer(tiles.storage.pointer)
  let tileFloats = tiles.tileFloats
  parallelParts(workers) { part in
    let tile = tileBase.pointer + part * tileFloats
    // A single worker accumulates straight into the result; several use their own partial sums.
    let target = workers == 1 ? output.pointer : partial.pointer + part * tokens * cols
    var beta: Float = workers == 1 ? 1 : 0
    let mine = partition(rows, parts: workers, part: part, granule: rowsPerTile)
    var r = mine.lowerBound
    while r < mine.upperBound {
      let n = min(rowsPerTile, mine.upperBound - r, max(1, tileFloats / cols))
      weight.decodeRows(r..<(r + n), into: tile)
      BLAS.gemm(
        transposeA: false, transposeB: false, m: tokens, n: cols, k: n, a: gradient.pointer + r, lda: ldOutputGradient,
        b: tile, ldb: cols, beta: beta, c: target, ldc: cols)
      beta = 1
      r += n
    }
    if beta == 0 {  // this worker had no rows: its partial must still read as zero
      (target).initialize(repeating: 0, count: tokens * cols)
    }
  }
  if workers > 1 {
    let count = tokens * cols
    parallelParts(workers) { part in
      let range = partition(count, parts: workers, part: part, granule: 16)
      for w in 0..<workers {
        addInPlace(
          output.pointer + range.lowerBound, partial.pointer + w * count + range.lowerBound, count: range.count)
      }
    }
  }
}
