import Synchronization

/// The run-wide account of large buffers: every allocation of 1 MiB or more is reserved here with a label
/// ("weights", "activations", "kv-cache", "scratch", ...) before any page is touched.
///
/// It keeps current and peak bytes per label and in total, so a report can say where memory went and compare the
/// account with what the kernel reports (`ProcStatus`). With a `budget`, a reservation that would cross it throws
/// `MemoryError.overBudget` naming the label.
public final class MemoryLedger: Sendable {
  public struct Snapshot: Sendable, Equatable {
    public var currentBytes: Int
    public var peakBytes: Int
    public var currentByLabel: [String: Int]
    public var peakByLabel: [String: Int]
  }

  /// Allocations below this many bytes are not worth an entry (STYLE.md: 1 MiB or more is reserved).
  public static let reportingThreshold = 1 << 20

  public let budget: Int?
  private let state = Mutex(Snapshot(currentBytes: 0, peakBytes: 0, currentByLabel: [:], peakByLabel: [:]))

  public init(budget: Int? = nil) { self.budget = budget }

  /// Records `bytes` under `label`; throws before recording if the budget would be exceeded.
  public func reserve(_ bytes: Int, label: String) throws(MemoryError) {
    precondition(bytes >= 0, "negative reservation")
    let budget = self.budget
    let result: MemoryError? = state.withLock { s in
      if let budget, s.currentBytes + bytes > budget {
        return .overBudget(label: label, requested: bytes, inUse: s.currentBytes, budget: budget)
      }
      s.currentBytes += bytes
      s.peakBytes = max(s.peakBytes, s.currentBytes)
      let labelBytes = s.currentByLabel[label, default: 0] + bytes
      s.currentByLabel[label] = labelBytes
      s.peakByLabel[label] = max(s.peakByLabel[label, default: 0], labelBytes)
      return nil
    }
    if let result { throw result }
  }

  /// Returns `bytes` reserved earlier under `label`.
  public func release(_ bytes: Int, label: String) {
    state.withLock { s in
      s.currentBytes -= bytes
      s.currentByLabel[label, default: 0] -= bytes
      precondition(s.currentBytes >= 0 && s.currentByLabel[label]! >= 0, "ledger released more than reserved")
    }
  }

  public func snapshot() -> Snapshot { state.withLock { $0 } }

  /// A ledger that records without a budget, for code paths and tests that have no run of their own.
  public static let unbounded = MemoryLedger()
}

extension MemoryLedger {
  /// What the ledger reserved at its peak, by label: "ledger peak 9.5 MiB (kv-cache 2.1 MiB, ...)".
  public func peakLine() -> String {
    let snapshot = snapshot()
    let labels = snapshot.peakByLabel.sorted { $0.key < $1.key }.map { "\($0.key) \(ByteCount.format($0.value))" }
    return "ledger peak \(ByteCount.format(snapshot.peakBytes)) (" + labels.joined(separator: ", ") + ")"
  }
}
