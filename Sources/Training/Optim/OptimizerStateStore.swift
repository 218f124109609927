public import Memory

/// Where an optimizer keeps its per-element state: two fp32 moments (AdamW's m and v) laid out like the parameter
/// store (the same `count`, the same ranges per tensor).
///
/// The optimizer reaches the state only through `withMoments`, a range at a time, so a store that pages its
/// contents out to disk can bring a range in before the body runs and write it back (or mark it dirty) after.
public protocol OptimizerStateStore: AnyObject {
  /// Elements per moment (the parameter store's `count`).
  var count: Int { get }

  /// Calls `body` with mutable views of the first and second moment over `range` (both `range.count` long).
  /// The views are valid only inside `body`.
  func withMoments<Result>(
    _ range: Range<Int>,
    _ body: (UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) throws -> Result
  ) throws -> Result

  /// Sets both moments to zero everywhere.
  func reset() throws
}

/// Optimizer state kept in RAM: one anonymous buffer of 2 × count floats reserved as "<label>" (m, then v).
public final class InMemoryOptimizerState: OptimizerStateStore {
  public let count: Int
  private let storage: AnonymousBuffer<Float>

  public init(count: Int, label: String = "optimizer-state", ledger: MemoryLedger) throws(MemoryError) {
    precondition(count >= 0, "negative state size")
    self.count = count
    self.storage = try AnonymousBuffer<Float>(count: 2 * count, label: label, ledger: ledger)
  }

  public func withMoments<Result>(
    _ range: Range<Int>,
    _ body: (UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) throws -> Result
  ) throws -> Result {
    precondition(range.lowerBound >= 0 && range.upperBound <= count, "moment range \(range) outside 0..<\(count)")
    let m = UnsafeMutableBufferPointer(start: storage.pointer + range.lowerBound, count: range.count)
    let v = UnsafeMutableBufferPointer(start: storage.pointer + count + range.lowerBound, count: range.count)
    return try body(m, v)
  }

  public func reset() { storage.zero() }
}
