public import Memory
public import Paging

/// Optimizer state in pages, a resident set of them in RAM and the rest in a spill file (`PageCache`).
///
/// Page `p` holds elements `p·E ..< (p+1)·E` of both moments (E = `elementsPerPage`): m's E floats, then v's. An
/// optimizer step touches both moments of the same elements together, so one page in serves both. The state is the
/// same bits as in RAM: paging moves bytes, it never rounds them, so a paged run equals an unpaged one exactly.
public final class PagedOptimizerState: OptimizerStateStore {
  /// 64 Ki elements: 512 KiB pages, small enough that a 16 MiB resident set is 32 frames of read-ahead.
  public static let defaultElementsPerPage = 65_536

  public let count: Int
  public let elementsPerPage: Int
  public let cache: PageCache

  /// Paged state for `count` elements with `residentBytes` of frames (at least 3 pages' worth are used) over
  /// `backing`, whose page size must be `8 × elementsPerPage`. Frames are reserved as "optimizer-pages".
  public init(
    count: Int, elementsPerPage: Int = defaultElementsPerPage, residentBytes: Int, backing: any PageBackingStore,
    ledger: MemoryLedger
  ) throws {
    precondition(count > 0 && elementsPerPage > 0, "empty paged state")
    precondition(backing.pageBytes == 8 * elementsPerPage, "backing pages do not hold two moments of a page")
    self.count = count
    self.elementsPerPage = elementsPerPage
    let pages = Self.pageCount(count: count, elementsPerPage: elementsPerPage)
    let frames = max(3, residentBytes / backing.pageBytes)
    self.cache = try PageCache(
      pageCount: pages, frameCount: frames, backing: backing, label: "optimizer-pages", ledger: ledger)
  }

  public static func pageCount(count: Int, elementsPerPage: Int = defaultElementsPerPage) -> Int {
    (count + elementsPerPage - 1) / elementsPerPage
  }

  public var summary: String {
    "\(cache.backing.summary), \(ByteCount.format(cache.frameCount * cache.pageBytes)) resident "
      + "(\(cache.frameCount) of \(cache.pageCount) pages of \(ByteCount.format(cache.pageBytes)))"
  }

  public var paging: PagingStatistics? { cache.statistics }
  public var stateBytes: Int { 8 * count }

  public func forEachMomentSegment(
    _ range: Range<Int>, dirtying: Bool,
    _ body: (Int, UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) throws -> Void
  ) throws {
    precondition(range.lowerBound >= 0 && range.upperBound <= count, "moment range \(range) outside 0..<\(count)")
    var start = range.lowerBound
    while start < range.upperBound {
      let page = start / elementsPerPage
      let pageStart = page * elementsPerPage
      let end = min(range.upperBound, pageStart + elementsPerPage)
      try cache.withPage(page, dirtying: dirtying) { bytes in
        let floats = bytes.bindMemory(to: Float.self)
        let m = UnsafeMutableBufferPointer(rebasing: floats[(start - pageStart)..<(end - pageStart)])
        let v = UnsafeMutableBufferPointer(
          rebasing: floats[(elementsPerPage + start - pageStart)..<(elementsPerPage + end - pageStart)])
        try body(start - range.lowerBound, m, v)
      }
      start = end
    }
  }

  public func reset() throws { try cache.reset() }
}
