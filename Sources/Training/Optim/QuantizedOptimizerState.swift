public import Memory
public import Paging
import Quantization

/// AdamW's moments stored in 8 bits as bitsandbytes' blockwise 8-bit optimizers store them: blocks of 256 elements,
/// one fp32 absmax per block, m on the signed dynamic map and v on the unsigned one; tensors under 4096 elements stay
/// fp32 (bitsandbytes' `min_8bit_size`). Each access decodes a page of blocks to fp32, the body updates it, and a
/// dirtying access quantizes it again with fresh absmax values, exactly as bnb's kernel does after every update.
///
/// Encoded pages (E codes of m, E of v, then E/256 absmax of each) live in a `PageCache`: all resident for `ram`, or a
/// few resident over a spill file, a quarter of the fp32 state's I/O. Because every step re-quantizes whether or not
/// the page stayed resident, paged and resident 8-bit runs give the same bits.
/// ref: Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization"; bitsandbytes optim/optimizer.py
/// (min_8bit_size 4096, block size 256), csrc/kernels.cu kOptimizer8bit2StateBlockwise.
public final class QuantizedOptimizerState: OptimizerStateStore {
  public static let blockSize = OptimizerStateQuantizer.defaultBlockSize
  /// bitsandbytes' `min_8bit_size`: smaller tensors keep fp32 state.
  public static let minimum8BitElements = 4096
  public static let defaultElementsPerPage = 65_536

  public let count: Int
  public let elementsPerPage: Int
  public let cache: PageCache
  /// fp32 moments of the small tensors, compactly (m then v), and where each small tensor starts in it.
  private let small: AnonymousBuffer<Float>
  private let smallCount: Int
  private let smallOffset: [Int: Int]
  private let quantizedRanges: [Range<Int>]
  /// One page decoded: m (E floats) then v (E floats).
  private let scratch: AnonymousBuffer<Float>

  /// 8-bit state for `parameters` (every tensor must start on a 256-element boundary, as `ParameterStore` lays them
  /// out). Without `backing` every page stays resident (pages no bigger than the state, on `numaNode` if given);
  /// with one, `residentBytes` of encoded frames are kept.
  public init(
    parameters: ParameterStore, elementsPerPage: Int = defaultElementsPerPage, backing: (any PageBackingStore)? = nil,
    residentBytes: Int = 0, numaNode: Int? = nil, ledger: MemoryLedger
  ) throws {
    precondition(elementsPerPage % Self.blockSize == 0, "pages must hold whole blocks")
    precondition(ParameterStore.alignment % Self.blockSize == 0, "tensors must start on block boundaries")
    count = parameters.count
    let elementsPerPage =
      backing == nil ? Self.elementsPerPage(requested: elementsPerPage, count: count) : elementsPerPage
    self.elementsPerPage = elementsPerPage
    var smallOffset: [Int: Int] = [:]
    var smallCount = 0
    var quantized: [Range<Int>] = []
    for tensor in parameters.tensors {
      if tensor.count < Self.minimum8BitElements {
        smallOffset[tensor.offset] = smallCount
        smallCount += tensor.count
      } else {
        quantized.append(tensor.range)
      }
    }
    self.smallOffset = smallOffset
    self.smallCount = smallCount
    quantizedRanges = quantized
    small = try AnonymousBuffer<Float>(count: 2 * smallCount, label: "optimizer-state", ledger: ledger)
    scratch = try AnonymousBuffer<Float>(count: 2 * elementsPerPage, label: "optimizer-8bit-scratch", ledger: ledger)
    let pages = max(1, (count + elementsPerPage - 1) / elementsPerPage)
    let pageBytes = Self.pageBytes(elementsPerPage: elementsPerPage)
    let store = backing ?? ResidentOnlyStore(pageBytes: pageBytes)
    precondition(store.pageBytes == pageBytes, "backing pages do not match the 8-bit page size")
    let frames = backing == nil ? max(2, pages) : max(3, residentBytes / pageBytes)
    cache = try PageCache(
      pageCount: pages, frameCount: frames, backing: store,
      label: backing == nil ? "optimizer-state-8bit" : "optimizer-pages", numaNode: numaNode, ledger: ledger)
  }

  /// The page size for resident state of `count` elements: no bigger than the state (in whole blocks), so a small
  /// adapter's 8-bit state is not one mostly empty 130 KiB page.
  public static func elementsPerPage(requested: Int = defaultElementsPerPage, count: Int) -> Int {
    min(requested, max(blockSize, (count + blockSize - 1) / blockSize * blockSize))
  }

  /// Encoded bytes of one page of `elementsPerPage` elements of both moments.
  public static func pageBytes(elementsPerPage: Int = defaultElementsPerPage) -> Int {
    2 * OptimizerStateQuantizer.encodedByteCount(count: elementsPerPage, blockSize: blockSize)
  }

  public var summary: String {
    let kept = cache.backing is ResidentOnlyStore ? "RAM" : cache.backing.summary
    return "8-bit blockwise (\(ByteCount.format(stateBytes))) in \(kept)"
      + (cache.backing is ResidentOnlyStore
        ? "" : ", \(ByteCount.format(cache.frameCount * cache.pageBytes)) resident")
  }

  /// Bytes of the state as stored: encoded pages plus the small tensors' fp32 moments.
  public var stateBytes: Int { cache.pageCount * cache.pageBytes + 8 * smallCount }

  public var paging: PagingStatistics? { cache.backing is ResidentOnlyStore ? nil : cache.statistics }

  public func forEachMomentSegment(
    _ range: Range<Int>, dirtying: Bool,
    _ body: (Int, UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) throws -> Void
  ) throws {
    if let offset = smallOffset[range.lowerBound] {
      let m = UnsafeMutableBufferPointer(start: small.pointer + offset, count: range.count)
      let v = UnsafeMutableBufferPointer(start: small.pointer + smallCount + offset, count: range.count)
      return try body(0, m, v)
    }
    guard
      let tensor = quantizedRanges.first(where: {
        $0.lowerBound <= range.lowerBound && range.upperBound <= $0.upperBound
      })
    else {
      preconditionFailure("8-bit state is reached a tensor (or part of one) at a time; \(range) is not inside one")
    }
    var start = range.lowerBound
    while start < range.upperBound {
      let page = start / elementsPerPage
      let pageStart = page * elementsPerPage
      let end = min(range.upperBound, pageStart + elementsPerPage)
      // Whole blocks around [start, end), but never past the tensor's end: the padding after it is not state, and
      // re-encoding it would let its decoded -0.0 become a tiny negative m that takes part in the block's absmax.
      let first = (start - pageStart) / Self.blockSize * Self.blockSize
      let last = min(
        elementsPerPage, tensor.upperBound - pageStart,
        (end - pageStart + Self.blockSize - 1) / Self.blockSize * Self.blockSize)
      try cache.withPage(page, dirtying: dirtying) { bytes in
        let layout = Layout(bytes: bytes, elements: elementsPerPage, blockSize: Self.blockSize)
        layout.decode(first..<last, into: scratch.pointer)
        let m = UnsafeMutableBufferPointer(start: scratch.pointer + (start - pageStart), count: end - start)
        let v = UnsafeMutableBufferPointer(
          start: scratch.pointer + elementsPerPage + (start - pageStart), count: end - start)
        try body(start - range.lowerBound, m, v)
        if dirtying { layout.encode(first..<last, from: scratch.pointer) }
      }
      start = end
    }
  }

  public func reset() throws {
    small.zero()
    try cache.reset()
  }

  /// Where m's and v's codes and absmax values sit in one encoded page.
  struct Layout {
    let mCodes: UnsafeMutablePointer<UInt8>
    let vCodes: UnsafeMutablePointer<UInt8>
    let mAbsmax: UnsafeMutablePointer<Float>
    let vAbsmax: UnsafeMutablePointer<Float>
    let elements: Int
    let blockSize: Int

    init(bytes: UnsafeMutableRawBufferPointer, elements: Int, blockSize: Int) {
      let base = bytes.baseAddress!
      let blocks = elements / blockSize
      mCodes = base.assumingMemoryBound(to: UInt8.self)
      vCodes = mCodes + elements
      mAbsmax = (base + 2 * elements).bindMemory(to: Float.self, capacity: 2 * blocks)
      vAbsmax = mAbsmax + blocks
      self.elements = elements
      self.blockSize = blockSize
    }

    /// Elements `range` (block-aligned start) of both moments to fp32 at `scratch` (m at 0, v at `elements`).
    func decode(_ range: Range<Int>, into scratch: UnsafeMutablePointer<Float>) {
      let blocks = range.lowerBound / blockSize..<((range.upperBound + blockSize - 1) / blockSize)
      for (codes, absmax, map, offset) in [
        (mCodes, mAbsmax, OptimizerStateQuantizer.Map.signed, 0), (vCodes, vAbsmax, .unsigned, elements),
      ] {
        OptimizerStateQuantizer.decode(
          codes: UnsafeBufferPointer(start: codes + range.lowerBound, count: range.count),
          absmax: UnsafeBufferPointer(start: absmax + blocks.lowerBound, count: blocks.count), map: map,
          blockSize: blockSize,
          into: UnsafeMutableBufferPointer(start: scratch + offset + range.lowerBound, count: range.count))
      }
    }

    /// The inverse of `decode`: fresh absmax values and codes for the blocks of `range`.
    func encode(_ range: Range<Int>, from scratch: UnsafeMutablePointer<Float>) {
      let blocks = range.lowerBound / blockSize..<((range.upperBound + blockSize - 1) / blockSize)
      for (codes, absmax, map, offset) in [
        (mCodes, mAbsmax, OptimizerStateQuantizer.Map.signed, 0), (vCodes, vAbsmax, .unsigned, elements),
      ] {
        OptimizerStateQuantizer.encode(
          UnsafeBufferPointer(start: scratch + offset + range.lowerBound, count: range.count), map: map,
          blockSize: blockSize, into: UnsafeMutableBufferPointer(start: codes + range.lowerBound, count: range.count),
          absmax: UnsafeMutableBufferPointer(start: absmax + blocks.lowerBound, count: blocks.count))
      }
    }
  }
}

/// The backing of a page cache that keeps every page resident: pages start as zeros and are never written back.
final class ResidentOnlyStore: PageBackingStore, @unchecked Sendable {
  let pageBytes: Int
  init(pageBytes: Int) { self.pageBytes = pageBytes }
  var summary: String { "RAM" }
  func write(page: Int, from bytes: UnsafeRawBufferPointer) throws(PagingError) -> Int {
    preconditionFailure("a resident-only page cache evicted page \(page)")
  }
  func read(page: Int, into bytes: UnsafeMutableRawBufferPointer) throws(PagingError) -> Int? { nil }
  func discardAll() {}
}
