public import Memory
public import Paging

/// Where an optimizer keeps its per-element state: two fp32 moments (AdamW's m and v) laid out like the parameter
/// store (the same `count`, the same ranges per tensor).
///
/// The optimizer reaches the state only through `forEachMomentSegment`, a contiguous piece at a time, so a store that
/// pages its contents out to disk can bring a piece in before the body runs and write it back after.
public protocol OptimizerStateStore: AnyObject {
  /// Elements per moment (the parameter store's `count`).
  var count: Int { get }

  /// Where the state lives, for reports: "RAM", "RAM on NUMA node 1", "LZ4-compressed spill file …".
  var summary: String { get }

  /// Bytes the state occupies as stored (RAM plus spill), for reports.
  var stateBytes: Int { get }

  /// What paging did, or nil for a store that does not page.
  var paging: PagingStatistics? { get }

  /// Calls `body` for consecutive pieces covering `range`, in order, with the piece's offset from
  /// `range.lowerBound` and mutable views of the first and second moment over it (both as long as the piece). The
  /// views are valid only inside `body`. `dirtying: false` promises the body only reads (a checkpoint being saved).
  func forEachMomentSegment(
    _ range: Range<Int>, dirtying: Bool,
    _ body: (Int, UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) throws -> Void
  ) throws

  /// Sets both moments to zero everywhere.
  func reset() throws
}

/// Optimizer state kept in RAM: one anonymous buffer of 2 × count floats reserved as "<label>" (m, then v),
/// optionally bound to one NUMA node (the node local to the training threads, or a chosen one).
public final class InMemoryOptimizerState: OptimizerStateStore {
  public let count: Int
  public let summary: String
  private let storage: AnonymousBuffer<Float>

  /// State in RAM; with `numaNode`, its pages are placed on that node (preferred, so a full node spills over
  /// rather than failing).
  public init(count: Int, numaNode: Int? = nil, label: String = "optimizer-state", ledger: MemoryLedger)
    throws(MemoryError)
  {
    precondition(count >= 0, "negative state size")
    self.count = count
    self.storage = try AnonymousBuffer<Float>(count: 2 * count, label: label, ledger: ledger)
    if let numaNode {
      try storage.prefer(numaNode: numaNode)
      summary = "RAM on NUMA node \(numaNode)"
    } else {
      summary = "RAM"
    }
  }

  public var paging: PagingStatistics? { nil }
  public var stateBytes: Int { 8 * count }

  /// The state's touched pages by the NUMA node the kernel put them on.
  public func pagesByNUMANode() -> [Int: Int] { storage.pagesByNUMANode() }

  public func forEachMomentSegment(
    _ range: Range<Int>, dirtying: Bool,
    _ body: (Int, UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) throws -> Void
  ) throws {
    precondition(range.lowerBound >= 0 && range.upperBound <= count, "moment range \(range) outside 0..<\(count)")
    let m = UnsafeMutableBufferPointer(start: storage.pointer + range.lowerBound, count: range.count)
    let v = UnsafeMutableBufferPointer(start: storage.pointer + count + range.lowerBound, count: range.count)
    try body(0, m, v)
  }

  public func reset() { storage.zero() }
}
