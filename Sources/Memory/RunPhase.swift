import Synchronization

/// What the run is doing now, for memory profiles: the sampler tags each sample with the phase current at that moment,
/// so a timeline can say whether a peak came from the forward pass, the backward pass or the optimizer.
///
/// One process-wide value (a run is one process); setting it costs one atomic store, so hot paths can afford it.
public enum RunPhase: Int, Sendable, CaseIterable, CustomStringConvertible {
  case idle, load, plan, forward, backward, optimizer, eval, save, generate, convert

  private static let current = Atomic<Int>(0)

  /// The phase now.
  public static var now: RunPhase { RunPhase(rawValue: current.load(ordering: .relaxed)) ?? .idle }

  /// Makes `phase` current.
  public static func enter(_ phase: RunPhase) { current.store(phase.rawValue, ordering: .relaxed) }

  public var description: String {
    switch self {
    case .idle: "idle"
    case .load: "load"
    case .plan: "plan"
    case .forward: "forward"
    case .backward: "backward"
    case .optimizer: "optimizer"
    case .eval: "eval"
    case .save: "save"
    case .generate: "generate"
    case .convert: "convert"
    }
  }
}
