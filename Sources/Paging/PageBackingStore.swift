/// Where pages that are not resident live. A `PageCache` calls a store from its one I/O thread only, one call at a
/// time, so implementations need no locking of their own.
public protocol PageBackingStore: AnyObject, Sendable {
  /// Bytes in every page.
  var pageBytes: Int { get }
  /// What and where the store is, for reports ("LZ4-compressed spill file /var/tmp/…").
  var summary: String { get }

  /// Stores `bytes` (exactly `pageBytes`) as `page`, replacing what was there; returns the bytes it took in the
  /// store (less than `pageBytes` when compressed).
  func write(page: Int, from bytes: UnsafeRawBufferPointer) throws(PagingError) -> Int

  /// Fills `bytes` (exactly `pageBytes`) with `page` and returns the stored bytes read, or returns nil without
  /// touching `bytes` when the page was never written (the caller treats it as zeros).
  func read(page: Int, into bytes: UnsafeMutableRawBufferPointer) throws(PagingError) -> Int?

  /// Forgets every page: each reads as never written again.
  func discardAll()
}

/// What paging did, summed over a run: the figures of the run's report.
public struct PagingStatistics: Sendable, Equatable {
  public var pagesIn = 0
  public var pagesOut = 0
  /// Bytes read from and written to the store (after compression).
  public var bytesRead = 0
  public var bytesWritten = 0
  /// Bytes of the pages written, before compression.
  public var logicalBytesWritten = 0
  /// Seconds the I/O thread spent reading and writing (overlapping compute).
  public var ioSeconds = 0.0
  /// Seconds the optimizer spent waiting for a page that was not ready: the part of I/O that did not overlap.
  public var waitSeconds = 0.0

  public init() {}

  /// Uncompressed over stored bytes written (1 without compression, or before anything was written).
  public var compressionRatio: Double {
    bytesWritten > 0 ? Double(logicalBytesWritten) / Double(bytesWritten) : 1
  }
}
