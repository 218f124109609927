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
    for matrix in weights.layers[index].matrices { dropPages(of: matrix) }
    residency.count { $0.layerDrops += 1 }
  }

  /// The embedding as passes should read it: dropping each row's pages after decoding when streaming.
  public var embeddingForPass: any FrozenMatrix { streamed(weights.embedding) }

  /// The output head as passes should read it (every step reads it whole): dropped tile by tile when streaming.
  public var headForPass: any FrozenMatrix { streamed(weights.head) }

  /// A pass is done with the head and the embedding: drops what tile-by-tile dropping left (their block scales).
  public func endHead() {
    guard residency.isStreaming else { return }
    dropPages(of: weights.embedding)
    if !config.tiedEmbeddings { dropPages(of: weights.head) }
  }

  /// Drops every weight page the process holds (relief when the kernel's count nears the budget). The next pass
  /// faults them back in from the page cache.
  public func dropAllWeightPages() {
    dropPages(of: weights.embedding)
    if !config.tiedEmbeddings { dropPages(of: weights.head) }
    for layer in weights.layers { for matrix in layer.matrices { dropPages(of: matrix) } }
  }

  private func streamed(_ matrix: any FrozenMatrix) -> any FrozenMatrix {
    guard residency.isStreaming else { return matrix }
    return PageDroppingMatrix(inner: matrix, model: self)
  }
}

/// A frozen matrix whose pages leave the process as soon as a tile of rows is decoded (the page cache keeps them).
/// Rows without a contiguous storage range drop the whole matrix at the end of each call instead.
struct PageDroppingMatrix: FrozenMatrix {
  let inner: any FrozenMatrix
  let model: LanguageModel

  var rows: Int { inner.rows }
  var cols: Int { inner.cols }
  var name: String { inner.name }
  var fileRange: Range<Int> { inner.fileRange }
  var storageBytes: Int { inner.storageBytes }
  func storageRange(rows: Range<Int>) -> Range<Int>? { inner.storageRange(rows: rows) }

  /// The kernel maps up to 64 KiB of cached neighbours on each read fault ("fault-around"), so a tile's own bytes are
  /// not all a decode brings in: the drop reaches that far on both sides (a neighbour still in use just faults again).
  static let faultAroundBytes = 64 << 10

  func decodeRows(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
    inner.decodeRows(range, into: destination)
    let whole = inner.fileRange
    let drop =
      inner.storageRange(rows: range).map {
        max(whole.lowerBound, $0.lowerBound - Self.faultAroundBytes)..<min(whole.upperBound, $0.upperBound + Self.faultAroundBytes)
      } ?? whole
    model.advise(inner, range: drop, willNeed: false)
    model.residency.count { $0.tileDrops += 1 }
  }
}
