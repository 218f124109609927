import Dispatch

/// A pointer that may cross into worker closures. The caller promises the workers touch disjoint ranges.
public struct SendablePointer<Pointee>: @unchecked Sendable {
  // @unchecked Sendable: a raw address; disjointness of writes is the caller's contract (see parallelFor).
  public let pointer: UnsafeMutablePointer<Pointee>
  public init(_ pointer: UnsafeMutablePointer<Pointee>) { self.pointer = pointer }
}

/// Same, for read-only data.
public struct SendableConstPointer<Pointee>: @unchecked Sendable {
  // @unchecked Sendable: read-only address shared by workers.
  public let pointer: UnsafePointer<Pointee>
  public init(_ pointer: UnsafePointer<Pointee>) { self.pointer = pointer }
}

/// How many worker threads our own loops use (the `--threads` option). BLAS runs with 1 thread inside them.
public enum Threading {
  nonisolated(unsafe) private static var configured = 2
  // nonisolated(unsafe): written once at start-up by the CLI before any worker exists.

  public static var workers: Int { configured }

  /// Sets our worker count; OpenBLAS gets the same count for calls made outside our parallel loops.
  public static func configure(workers: Int) {
    configured = max(1, workers)
    BLAS.setThreads(configured)
  }
}

/// Runs `body(part, partCount)` on `parts` workers and waits. With one part it runs inline.
/// Each part must touch its own slice of any shared output.
public func parallelParts(_ parts: Int, _ body: @Sendable (Int) -> Void) {
  if parts <= 1 {
    body(0)
    return
  }
  if WorkerPool.shared.run(parts: parts, body) { return }
  DispatchQueue.concurrentPerform(iterations: parts, execute: body)
}

/// Splits 0..<count into `parts` contiguous ranges of near-equal size, aligned to `granule`.
@inlinable
public func partition(_ count: Int, parts: Int, part: Int, granule: Int = 1) -> Range<Int> {
  let units = (count + granule - 1) / granule
  let lower = units * part / parts * granule
  let upper = min(count, units * (part + 1) / parts * granule)
  return min(lower, count)..<max(min(lower, count), upper)
}
