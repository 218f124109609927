import Foundation
import Glibc
import Synchronization

/// Persistent worker threads that spin briefly between jobs, for the many short parallel regions of token-by-token
/// generation (a 576×576 product decodes in ~50 µs).
///
/// `DispatchQueue.concurrentPerform` wakes a sleeping worker for every call, which costs about as much as such a
/// product (measured: 2×37 µs of work took 76 µs with it, 75 µs serially), so generation gained nothing from a
/// second core. Here workers poll a generation counter for a short while after each job and only then sleep on a
/// condition, so back-to-back regions start in well under a microsecond.
/// One caller at a time: a second concurrent caller falls back to `concurrentPerform`.
final class WorkerPool: @unchecked Sendable {
  // @unchecked Sendable: `job` is written only by the one caller holding `callerLock`, before the release-ordered
  // increment of `generation` that workers acquire; it is cleared only after every worker reported done.
  static let shared = WorkerPool(threads: max(1, ProcessInfo.processInfo.activeProcessorCount - 1))

  /// How many times a worker polls for new work before sleeping (~0.1–0.3 ms).
  static let spinLimit = 200_000

  let threads: Int
  /// (job number << 8) | part count of that job, published in one atomic so a worker never pairs one job's number
  /// with another job's part count.
  private let generation = Atomic<Int>(0)
  private let remaining = Atomic<Int>(0)
  private let condition = NSCondition()
  private let callerLock = Mutex(())
  nonisolated(unsafe) private var job: ((Int) -> Void)?

  init(threads: Int) {
    self.threads = threads
    for index in 0..<threads {
      let thread = Thread { [unowned self] in self.workerLoop(part: index + 1) }
      thread.name = "edgetune-worker-\(index + 1)"
      thread.start()
    }
  }

  /// Runs body(0..<parts) with part 0 on the calling thread. Returns false (having run nothing) when the pool is
  /// busy with another caller or too small, so the caller can use another strategy.
  func run(parts: Int, _ body: @Sendable (Int) -> Void) -> Bool {
    guard parts - 1 <= threads, parts < 256 else { return false }
    let acquired: Bool? = callerLock.withLockIfAvailable { _ in
      withoutActuallyEscaping(body) { escapable in
        self.job = escapable
        remaining.store(parts - 1, ordering: .relaxed)
        condition.lock()
        let next = ((generation.load(ordering: .relaxed) >> 8) + 1) << 8 | parts
        generation.store(next, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
        escapable(0)
        var polls = 0
        while remaining.load(ordering: .acquiring) > 0 {
          // On an oversubscribed machine the worker may be off-CPU: give it the core instead of burning a quantum.
          polls += 1
          if polls > 2048 { sched_yield() }
        }
        self.job = nil
      }
      return true
    }
    return acquired ?? false
  }

  private func workerLoop(part: Int) {
    var seen = 0
    while true {
      var spins = 0
      var current = generation.load(ordering: .acquiring)
      while current == seen && spins < Self.spinLimit {
        spins += 1
        // Yield now and then, so spinning never starves other runnable threads on a busy machine.
        if spins & 1023 == 0 { sched_yield() }
        current = generation.load(ordering: .acquiring)
      }
      if current == seen {
        condition.lock()
        while generation.load(ordering: .acquiring) == seen { condition.wait() }
        condition.unlock()
        current = generation.load(ordering: .acquiring)
      }
      seen = current
      // A worker beyond this job's part count sits it out; the caller waits only for the ones that take part.
      guard part < current & 0xFF else { continue }
      runJob(part: part)
      // Reported only after runJob returned, so this thread no longer holds the closure:
      // withoutActuallyEscaping in `run` checks that no reference outlives the call.
      remaining.subtract(1, ordering: .releasing)
    }
  }

  @inline(never)
  private func runJob(part: Int) {
    if let job { job(part) }
  }
}
