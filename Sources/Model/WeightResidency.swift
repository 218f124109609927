internal import Synchronization

/// Which frozen-weight pages the process keeps mapped in, when the budget is smaller than the model.
///
/// `resident`: every page read stays in the process (the default; fastest). `streaming(residentLayers: k)`: layers
/// 0..<k stay in; every other layer's pages are dropped from the process (`madvise(DONTNEED)`: the page cache keeps
/// them, the process's RSS stops counting them) as soon as a pass is done with the layer, and the next layer is
/// prefetched (`madvise(WILLNEED)`: readahead into the page cache, which does not count in RSS either). The
/// embedding and the output head, which every step reads whole, are dropped tile by tile as they are decoded.
/// The kernel then holds at most one layer and a few tiles of streamed weights in the process at a time.
public final class WeightResidency: Sendable {
  public enum Policy: Sendable, Equatable {
    case resident
    case streaming(residentLayers: Int)
  }

  /// What streaming did, for reports.
  public struct Counters: Sendable, Equatable {
    public var layerDrops = 0
    public var prefetches = 0
    public var tileDrops = 0
  }

  private let state = Mutex((policy: Policy.resident, counters: Counters()))

  public init() {}

  public var policy: Policy {
    get { state.withLock { $0.policy } }
    set { state.withLock { $0.policy = newValue } }
  }

  public var counters: Counters { state.withLock { $0.counters } }

  public var isStreaming: Bool { policy != .resident }

  /// Whether layer `index` is streamed (its pages dropped after each use).
  public func streams(layer index: Int) -> Bool {
    switch policy {
    case .resident: return false
    case .streaming(let residentLayers): return index >= residentLayers
    }
  }

  func count(_ update: (inout Counters) -> Void) { state.withLock { update(&$0.counters) } }
}
