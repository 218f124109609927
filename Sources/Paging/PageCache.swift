import Foundation
public import Memory

/// Fixed-size pages of a large buffer, `frameCount` of them resident in RAM, the rest in a `PageBackingStore`.
///
/// Made for a consumer that sweeps the pages in order, again and again (an optimizer step walks its parameters in a
/// fixed order). Whenever page `p` is taken, the cache wants `p+1 … p+readAhead` (wrapping past the last page, so the
/// start of the next sweep loads while the model computes its next gradients) and one I/O thread brings them in,
/// writing the evicted frame back first when it is dirty (write-behind). The frame to evict is the one whose next use
/// in the sweep is furthest away: for a cyclic sweep, the page used most recently. Reads and writes of one page are
/// ordered because the I/O thread runs its jobs first in, first out.
public final class PageCache: Sendable {
  private let core: PageCacheCore

  /// A cache of `frameCount` frames (at least 2) of `backing.pageBytes` over `pageCount` pages, reserved in
  /// `ledger` as `label` (placed on `numaNode` when given). Every page starts as zeros.
  public init(
    pageCount: Int, frameCount: Int, backing: any PageBackingStore, label: String, numaNode: Int? = nil,
    ledger: MemoryLedger
  ) throws(MemoryError) {
    core = try PageCacheCore(
      pageCount: pageCount, frameCount: frameCount, backing: backing, label: label, ledger: ledger)
    if let numaNode { try core.preferFrames(onNUMANode: numaNode) }
    core.start()
  }

  deinit { core.stop() }

  public var pageCount: Int { core.pageCount }
  public var pageBytes: Int { core.pageBytes }
  /// Frames actually used: never more than one beyond the page count.
  public var frameCount: Int { core.frameCount }
  /// Pages loaded ahead of the one in use.
  public var readAhead: Int { core.readAhead }
  public var backing: any PageBackingStore { core.backing }
  /// What paging has done so far.
  public var statistics: PagingStatistics { core.statistics }

  /// Calls `body` with page `page`'s bytes, resident for the call; `dirtying` marks the page for write-back.
  /// Throws the I/O thread's error, if it had one: after a failed write or a corrupt read nothing is trusted.
  public func withPage<Result>(
    _ page: Int, dirtying: Bool, _ body: (UnsafeMutableRawBufferPointer) throws -> Result
  ) throws -> Result {
    try core.withPage(page, dirtying: dirtying, body)
  }

  /// Makes every page zero again and forgets the stored ones (after in-flight I/O finishes).
  public func reset() throws { try core.reset() }
}

/// The state of a `PageCache` shared with its I/O thread, which holds it strongly while it runs.
final class PageCacheCore: @unchecked Sendable {
  // @unchecked Sendable: every mutable field below the frames is guarded by `condition`; a frame's bytes belong to
  // the I/O thread while its job runs and to the caller while pinned, never both (`busy` and `pinned` exclude).
  let pageCount: Int
  let pageBytes: Int
  let frameCount: Int
  let readAhead: Int
  let backing: any PageBackingStore
  private let frames: AnonymousBuffer<UInt8>
  private let condition = NSCondition()
  private var pageFrame: [Int]
  private var framePage: [Int]
  private var busy: [Bool]
  private var dirty: [Bool]
  private var pinned = -1
  private var jobs: [Job] = []
  private var failure: PagingError?
  private var stopping = false
  private var running = true
  private var counters = PagingStatistics()

  struct Job {
    var frame: Int
    var writeBack: Int?
    var load: Int
  }

  /// A cache of `frameCount` frames (at least 2) of `backing.pageBytes` over `pageCount` pages, reserved in
  /// `ledger` as `label`. Every page starts as zeros.
  init(pageCount: Int, frameCount: Int, backing: any PageBackingStore, label: String, ledger: MemoryLedger)
    throws(MemoryError)
  {
    precondition(pageCount > 0 && frameCount >= 2, "a page cache needs pages and at least two frames")
    let frames = min(frameCount, pageCount + 1)
    self.pageCount = pageCount
    self.pageBytes = backing.pageBytes
    self.frameCount = frames
    // One frame is always free to receive the next load while another is written back.
    self.readAhead = max(0, min(frames - 2, pageCount - 1))
    self.backing = backing
    self.frames = try AnonymousBuffer<UInt8>(count: frames * backing.pageBytes, label: label, ledger: ledger)
    self.pageFrame = Array(repeating: -1, count: pageCount)
    self.framePage = Array(repeating: -1, count: frames)
    self.busy = Array(repeating: false, count: frames)
    self.dirty = Array(repeating: false, count: frames)
  }

  /// Places the frames on a NUMA node (before anything touches them).
  func preferFrames(onNUMANode node: Int) throws(MemoryError) { try frames.prefer(numaNode: node) }

  /// Starts the I/O thread, which keeps this core alive until `stop()`.
  func start() {
    let thread = Thread { [self] in serveJobs() }
    thread.name = "edgetune-paging"
    thread.start()
  }

  /// Stops the I/O thread after the jobs already queued, and waits for it.
  func stop() {
    condition.lock()
    stopping = true
    condition.broadcast()
    while running { condition.wait() }
    condition.unlock()
  }

  /// What paging has done so far.
  var statistics: PagingStatistics {
    condition.lock()
    defer { condition.unlock() }
    return counters
  }

  /// Calls `body` with page `page`'s bytes, resident for the call; `dirtying` marks the page for write-back.
  /// Throws the I/O thread's error, if it had one: after a failed write or a corrupt read nothing is trusted.
  func withPage<Result>(
    _ page: Int, dirtying: Bool, _ body: (UnsafeMutableRawBufferPointer) throws -> Result
  ) throws -> Result {
    precondition(page >= 0 && page < pageCount, "page \(page) outside 0..<\(pageCount)")
    let frame = try pin(page)
    defer { unpin(frame, dirtying: dirtying) }
    return try body(UnsafeMutableRawBufferPointer(start: frames.pointer + frame * pageBytes, count: pageBytes))
  }

  /// Makes every page zero again and forgets the stored ones (after in-flight I/O finishes).
  func reset() throws {
    condition.lock()
    defer { condition.unlock() }
    while !jobs.isEmpty || busy.contains(true) { condition.wait() }
    if let failure { throw failure }
    frames.zero()
    for f in 0..<frameCount { dirty[f] = false }
    backing.discardAll()
  }

  // MARK: scheduling (callers hold `condition`)

  private func pin(_ page: Int) throws -> Int {
    condition.lock()
    defer { condition.unlock() }
    var waitStart: ContinuousClock.Instant?
    while true {
      if let failure { throw failure }
      schedule(around: page)
      let frame = pageFrame[page]
      if frame >= 0 && !busy[frame] {
        if let waitStart { counters.waitSeconds += (ContinuousClock.now - waitStart).seconds }
        pinned = frame
        return frame
      }
      if waitStart == nil { waitStart = .now }
      condition.wait()
    }
  }

  private func unpin(_ frame: Int, dirtying: Bool) {
    condition.lock()
    if dirtying { dirty[frame] = true }
    pinned = -1
    condition.broadcast()
    condition.unlock()
  }

  /// Queues loads for `page` and the read-ahead pages after it that are not resident, while frames can be freed.
  private func schedule(around page: Int) {
    for ahead in 0...readAhead {
      let wanted = (page + ahead) % pageCount
      guard pageFrame[wanted] < 0 else { continue }
      guard let victim = victimFrame(current: page) else { return }
      let evicted = framePage[victim]
      if evicted >= 0 { pageFrame[evicted] = -1 }
      jobs.append(Job(frame: victim, writeBack: evicted >= 0 && dirty[victim] ? evicted : nil, load: wanted))
      framePage[victim] = wanted
      pageFrame[wanted] = victim
      busy[victim] = true
      dirty[victim] = false
      condition.broadcast()
    }
  }

  /// An idle, unpinned frame outside the wanted window: empty if any, else the one used again last.
  private func victimFrame(current page: Int) -> Int? {
    var best: Int?
    var bestDistance = -1
    for f in 0..<frameCount where !busy[f] && f != pinned {
      let held = framePage[f]
      if held < 0 { return f }
      let distance = (held - page + pageCount) % pageCount
      if distance > readAhead && distance > bestDistance {
        best = f
        bestDistance = distance
      }
    }
    return best
  }

  // MARK: the I/O thread

  private func serveJobs() {
    condition.lock()
    while true {
      while jobs.isEmpty && !stopping { condition.wait() }
      if jobs.isEmpty && stopping { break }
      let job = jobs.removeFirst()
      let broken = failure != nil
      condition.unlock()
      let start = ContinuousClock.now
      var outcome: Result<(written: Int, read: Int?), PagingError> = .success((0, nil))
      if !broken { outcome = run(job) }
      let seconds = (ContinuousClock.now - start).seconds
      condition.lock()
      counters.ioSeconds += seconds
      switch outcome {
      case .success(let transferred):
        if job.writeBack != nil {
          counters.pagesOut += 1
          counters.bytesWritten += transferred.written
          counters.logicalBytesWritten += pageBytes
        }
        if let read = transferred.read {
          counters.pagesIn += 1
          counters.bytesRead += read
        }
      case .failure(let error):
        if failure == nil { failure = error }
      }
      busy[job.frame] = false
      condition.broadcast()
    }
    running = false
    condition.broadcast()
    condition.unlock()
  }

  private func run(_ job: Job) -> Result<(written: Int, read: Int?), PagingError> {
    let bytes = UnsafeMutableRawBufferPointer(start: frames.pointer + job.frame * pageBytes, count: pageBytes)
    do {
      var written = 0
      if let page = job.writeBack { written = try backing.write(page: page, from: UnsafeRawBufferPointer(bytes)) }
      let read = try backing.read(page: job.load, into: bytes)
      if read == nil { bytes.initializeMemory(as: UInt8.self, repeating: 0) }
      return .success((written, read))
    } catch {
      return .failure(error)
    }
  }
}
