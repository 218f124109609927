import Foundation
import Synchronization

/// Samples the kernel's count of this process (/proc/self/status) on a background thread while a run works, and
/// holds the run to its budget.
///
/// Every `interval` it reads VmRSS/RssAnon/RssFile/VmHWM and the ledger, tags the sample with the current `RunPhase`,
/// keeps it (for profiles) and checks two things:
/// - pressure: RSS within `pressureFraction` of the budget. It first asks for relief (`relieve`: drop weight pages,
///   trim the heap); if RSS is still that high at the next sample, it raises `stopRequested`, and the run saves a
///   checkpoint and stops cleanly instead of growing past the budget.
/// - drift: RSS above what the plan accounts for (ledger now + planned weights and runtime) by more than `driftMargin`;
///   the largest drift is kept for the report.
public final class MemoryWatchdog: @unchecked Sendable {
  // @unchecked Sendable: mutable state lives in `state` (a Mutex) and `stopFlag` (an Atomic); the rest is immutable.
  public let ledger: MemoryLedger
  public let budget: Int?
  public let interval: Duration
  /// Bytes the plan expects outside the ledger (weights and runtime), for the drift check.
  public let plannedOutsideLedger: Int
  public let driftMargin: Int
  public let pressureFraction: Double
  private let keepSamples: Bool
  private let relieve: @Sendable () -> Void
  private let start = ContinuousClock.now
  private let stopFlag = Atomic<Bool>(false)
  private let running = Atomic<Bool>(false)
  private let state = Mutex(State())
  private var thread: Thread?

  struct State {
    var samples: [MemorySample] = []
    var maxDrift = 0
    var reliefs = 0
    var pressureSeen = false
    var peakRSS = 0
  }

  public init(
    ledger: MemoryLedger, budget: Int?, plannedOutsideLedger: Int, interval: Duration = .milliseconds(100),
    keepSamples: Bool = false, driftMargin: Int? = nil, pressureFraction: Double = 0.97,
    relieve: @escaping @Sendable () -> Void = {}
  ) {
    self.ledger = ledger
    self.budget = budget
    self.plannedOutsideLedger = plannedOutsideLedger
    self.interval = interval
    self.keepSamples = keepSamples
    self.driftMargin = driftMargin ?? max(8 << 20, plannedOutsideLedger / 10)
    self.pressureFraction = pressureFraction
    self.relieve = relieve
  }

  /// True once the run should stop: the budget is about to be crossed and relief did not help.
  public var stopRequested: Bool { stopFlag.load(ordering: .relaxed) }

  public var samples: [MemorySample] { state.withLock { $0.samples } }

  /// The most the kernel's RSS exceeded the plan's account (ledger + weights + runtime), in bytes (0 if never).
  public var maxDrift: Int { state.withLock { $0.maxDrift } }

  public var reliefs: Int { state.withLock { $0.reliefs } }

  public var peakRSS: Int { state.withLock { $0.peakRSS } }

  /// Starts sampling (one sample right away).
  public func begin() {
    guard !running.exchange(true, ordering: .relaxed) else { return }
    sample()
    let thread = Thread { [self] in
      while running.load(ordering: .relaxed) {
        Thread.sleep(forTimeInterval: interval.seconds)
        if running.load(ordering: .relaxed) { sample() }
      }
    }
    thread.name = "edgetune-memory-watchdog"
    thread.stackSize = 256 << 10
    self.thread = thread
    thread.start()
  }

  /// Stops sampling after one last sample.
  public func end() {
    guard running.exchange(false, ordering: .relaxed) else { return }
    sample()
  }

  /// Takes one sample now (also called by the thread).
  public func sample() {
    guard let status = try? ProcStatus.current() else { return }
    let snapshot = ledger.snapshot()
    let seconds = (ContinuousClock.now - start).seconds
    let drift = status.vmRSS - (snapshot.currentBytes + plannedOutsideLedger)
    var askRelief = false
    state.withLock { s in
      s.peakRSS = max(s.peakRSS, status.vmHWM)
      if drift > s.maxDrift { s.maxDrift = drift }
      if keepSamples {
        s.samples.append(
          MemorySample(
            seconds: seconds, phase: RunPhase.now.description, rss: status.vmRSS, rssAnon: status.rssAnon,
            rssFile: status.rssFile, hwm: status.vmHWM, ledger: snapshot.currentBytes,
            ledgerByLabel: snapshot.currentByLabel.filter { $0.value > 0 }))
      }
      if let budget, Double(status.vmRSS) >= pressureFraction * Double(budget) {
        if s.pressureSeen { stopFlag.store(true, ordering: .relaxed) } else { askRelief = true }
        s.pressureSeen = true
        s.reliefs += askRelief ? 1 : 0
      } else {
        s.pressureSeen = false
      }
    }
    if askRelief { relieve() }
  }

  /// Whether the drift ever exceeded the stated margin.
  public var driftExceeded: Bool { maxDrift > driftMargin }
}
