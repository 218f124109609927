/// The hooks every pass over the layers calls, so the weight pages a process holds follow `residency`'s policy.
/// With the default policy (`resident`) each hook is one lock and a return.
extension LanguageModel {
  /// A pass starts on layer `index` and goes on to `next`: starts readahead of `next` if it is streamed.
  public func beginLayer(_ index: Int, next: Int?) {
    guard let next, next >= 0, next < weights.layers.count, residency.streams(layer: next) else { return }
    for matrix in weights.layers[next].matrices { advise(matrix, range: matrix.fileRange, willNeed: true) }
    residency.count { $0.prefetches += 1 }
  }

  /// A pass is done with layer `index` (until the next pass): drops its pages if it is streamed.
  public func endLayer(_ index: Int) {
    guard residency.streams(layer: index) else { return }
    // Whole 2 MiB blocks around the layer: a fault may have mapped a large folio reaching past its ends.
    for matrix in weights.layers[index].matrices {
      advise(matrix, range: WeightPlan.folioAligned(matrix.fileRange), willNeed: false)
    }
    residency.count { $0.layerDrops += 1 }
  }

  /// The embedding as passes should read it: dropping each row's pages after decoding when streaming.
  public var embeddingForPass: any FrozenMatrix { streamed(weights.embedding, randomAccess: true) }

  /// The output head as passes should read it (every step reads it whole): dropped tile by tile when streaming.
  public var headForPass: any FrozenMatrix { streamed(weights.head, randomAccess: false) }

  /// A pass is done with the head and the embedding: drops what tile-by-tile dropping left (their block scales).
  public func endHead() {
    guard residency.isStreaming else { return }
    dropPages(of: weights.embedding)
    if !config.tiedEmbeddings { dropPages(of: weights.head) }
  }

  /// A pass reads `matrix`'s rows in order and has read those before `row`: drops the pages that hold only them, or
  /// the whole matrix's once `row` reaches its end or when its rows have no contiguous storage. Whole 2 MiB blocks
  /// from the one holding the matrix's start: a fault on its first rows may map a large folio reaching back over the
  /// end of the tensor before it, whose pages no later drop of that tensor would see; the block holding the rest's
  /// first rows stays. NF4's block scales stay until the end: they are 1/32 of its codes.
  func dropPages(of matrix: any FrozenMatrix, before row: Int) {
    let whole = WeightPlan.folioAligned(matrix.fileRange)
    guard row < matrix.rows, let rest = matrix.storageRange(rows: row..<matrix.rows) else {
      return advise(matrix, range: whole, willNeed: false)
    }
    let end = WeightPlan.folioAligned(rest).lowerBound
    guard whole.lowerBound < end else { return }
    advise(matrix, range: whole.lowerBound..<end, willNeed: false)
  }

  /// Drops every weight page the process holds (relief when the kernel's count nears the budget). The next pass
  /// faults them back in from the page cache.
  public func dropAllWeightPages() {
    dropPages(of: weights.embedding)
    if !config.tiedEmbeddings { dropPages(of: weights.head) }
    for layer in weights.layers { for matrix in layer.matrices { dropPages(of: matrix) } }
  }

  private func streamed(_ matrix: any FrozenMatrix, randomAccess: Bool) -> any FrozenMatrix {
    guard residency.isStreaming else { return matrix }
    return PageDroppingMatrix(inner: matrix, model: self, randomAccess: randomAccess)
  }
}

/// A frozen matrix whose pages leave the process as soon as a tile of rows is decoded (the page cache keeps them).
///
/// A read fault maps more than the page it needs: the kernel's fault-around (64 KiB) and, on recent kernels, whole
/// large folios of the page cache (up to 2 MiB for a file just written). So drops work in aligned 2 MiB blocks:
/// sequential reads (the head) drop the block behind the tile; random reads (embedding rows) drop the block they
/// touched. Rows without a contiguous storage range drop the whole matrix at the end of each call.
struct PageDroppingMatrix: FrozenMatrix {
  let inner: any FrozenMatrix
  let model: LanguageModel
  /// Random row access (embedding lookups): drop the rows' own blocks instead of the block behind.
  let randomAccess: Bool

  var rows: Int { inner.rows }
  var cols: Int { inner.cols }
  var name: String { inner.name }
  var fileRange: Range<Int> { inner.fileRange }
  var storageBytes: Int { inner.storageBytes }
  func storageRange(rows: Range<Int>) -> Range<Int>? { inner.storageRange(rows: rows) }

  func decodeRows(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
    inner.decodeRows(range, into: destination)
    let whole = inner.fileRange
    guard let used = inner.storageRange(rows: range) else {
      model.advise(inner, range: whole, willNeed: false)
      return
    }
    let own = WeightPlan.folioAligned(used)
    let drop = randomAccess ? own : (own.lowerBound - WeightPlan.largestFolioBytes)..<own.lowerBound
    let lower = max(whole.lowerBound, drop.lowerBound)
    let upper = min(whole.upperBound, drop.upperBound)
    guard lower < upper else { return }
    model.advise(inner, range: lower..<upper, willNeed: false)
    model.residency.count { $0.tileDrops += 1 }
  }
}
