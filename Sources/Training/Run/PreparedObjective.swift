public import Memory
public import Model

/// What an objective's preparation sees: the loaded model, the run's ledger, the encoder its examples go through,
/// the run's configuration, and where to say what it read.
public struct ObjectiveContext {
  public let model: LanguageModel
  public let ledger: MemoryLedger
  public let encoder: ExampleEncoder
  public let configuration: FineTuneConfiguration
  /// Receives lines for the log ("data train.jsonl: 1200 examples, …").
  public let note: (String) -> Void
}

/// An objective with its data read, and what the run needs to know about it.
public struct PreparedObjective {
  public var objective: any TrainingObjective
  /// Optimizer steps in one pass over the training data (for `epochs`).
  public var stepsPerEpoch: Double
  /// "256 tokens" / "2 pairs", for the log.
  public var stepUnits: String
  /// Optimizer steps per step the user counts (PPO: one batch of rollouts is several optimizer steps).
  public var stepMultiplier = 1
  /// LoRA rank the graph must hold besides the method's (PPO's reward model runs its own LoRA on the graph).
  public var graphRank = 1
  /// Preference pairs trained on and held out (pair objectives), prompts (PPO), for the report.
  public var pairs: Int?
  public var validationPairs: Int?
  public var prompts: Int?

  public init(objective: any TrainingObjective, stepsPerEpoch: Double, stepUnits: String) {
    self.objective = objective
    self.stepsPerEpoch = stepsPerEpoch
    self.stepUnits = stepUnits
  }
}
