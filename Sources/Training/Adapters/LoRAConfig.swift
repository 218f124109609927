public import Model

/// What LoRA trains: rank, scaling, dropout, which projections, and the seed of A's initialization.
/// ref: Hu et al. 2021, "LoRA"; Kalajdzievski 2023, "A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA"
/// (rsLoRA); PEFT's LoraConfig (field names in `adapter_config.json`).
public struct LoRAConfig: Sendable, Equatable {
  /// r: the inner dimension of B·A.
  public var rank: Int
  /// lora_alpha.
  public var alpha: Double
  /// lora_dropout: the probability of zeroing an input element of A during training.
  public var dropout: Double
  /// The projections that get an adapter, in canonical order (q, k, v, o, gate, up, down), without repeats.
  public var targets: [ProjectionTarget]
  /// use_rslora: scale alpha/sqrt(r) instead of alpha/r.
  public var useRSLoRA: Bool
  /// Seeds A's initialization (B starts at zero).
  public var seed: UInt64
  /// use_dora: a trainable magnitude per output row over the normalized W + scale·B·A (DoRA).
  public var useDoRA: Bool

  public init(
    rank: Int = 8, alpha: Double = 16, dropout: Double = 0, targets: [ProjectionTarget] = [.q, .v],
    useRSLoRA: Bool = false, useDoRA: Bool = false, seed: UInt64 = 0
  ) throws(TrainingError) {
    self.rank = rank
    self.alpha = alpha
    self.dropout = dropout
    self.targets = ProjectionTarget.allCases.filter(targets.contains)
    self.useRSLoRA = useRSLoRA
    self.useDoRA = useDoRA
    self.seed = seed
    try validate()
  }

  /// Parses target names as a user or an adapter_config.json gives them ("q", "q_proj"); throws `unknownTarget`.
  public static func targets(named names: [String]) throws(TrainingError) -> [ProjectionTarget] {
    var targets: [ProjectionTarget] = []
    for name in names {
      guard let target = ProjectionTarget(name: name) else {
        throw .unknownTarget(name: name, known: ProjectionTarget.allCases.map(\.moduleName))
      }
      targets.append(target)
    }
    return ProjectionTarget.allCases.filter(targets.contains)
  }

  public func validate() throws(TrainingError) {
    guard rank >= 1, rank <= 1 << 16 else { throw .invalidOption(name: "rank", reason: "\(rank) is not in 1...65536") }
    guard alpha > 0, alpha.isFinite else { throw .invalidOption(name: "alpha", reason: "\(alpha) is not > 0") }
    guard dropout >= 0, dropout < 1 else {
      throw .invalidOption(name: "dropout", reason: "\(dropout) is not in [0, 1)")
    }
    guard !targets.isEmpty else { throw .invalidOption(name: "targets", reason: "no projection is targeted") }
  }

  /// PEFT's `scaling`: alpha / sqrt(r) with rsLoRA, else alpha / r.
  public var scale: Double { useRSLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank) }
}
