import Formats
import Foundation
public import Memory
public import Model

/// Training of a method's trainable parts on an objective: the objective accumulates one step's gradients through
/// the frozen base (`TrainingGraph`), the trainer clips them, steps AdamW on a learning-rate schedule, evaluates
/// periodically and writes checkpoints. One trainer for every `TrainableMethod` (LoRA, soft prompts, …) and every
/// `TrainingObjective` (supervised, reward model, DPO, …).
public final class Trainer {
  public struct Options: Sendable {
    public var steps = 100
    /// The graph's row capacity in tokens (a preference pair's row holds both sequences).
    public var seqLen = 256
    public var learningRate = 2e-4
    public var schedule = LearningRateSchedule.Kind.cosine
    public var warmupSteps = 0
    public var weightDecay = 0.0
    public var maxGradientNorm = 1.0
    public var evalEvery = 0
    public var saveEvery = 0
    /// LoRA rank the graph must hold besides the method's (PPO's reward model runs its own LoRA on the same graph).
    public var minimumRank = 1
    public init() {}
  }

  /// What one optimizer step did.
  public struct StepReport: Sendable {
    public var step: Int
    public var loss: Double
    public var tokens: Int
    public var learningRate: Double
    public var gradientNorm: Double
    public var seconds: Double
    /// The objective's own figures for this step (accuracy, margin, …).
    public var metrics: [String: Double] = [:]
    /// Held-out figures when this step evaluated.
    public var evaluation: [String: Double]?
    public var evalLoss: Double? { evaluation?["loss"] }
  }

  public let model: LanguageModel
  public let method: any TrainableMethod
  public let objective: any TrainingObjective
  public let options: Options
  public let graph: TrainingGraph
  public let optimizer: AdamW
  public let schedule: LearningRateSchedule
  public private(set) var step = 0

  /// A trainer whose memory choices (logit rows, checkpointing, optimizer state placement) are `plan`'s.
  public init(
    model: LanguageModel, method: any TrainableMethod, objective: any TrainingObjective, options: Options,
    plan: TrainingPlan.Result, ledger: MemoryLedger
  ) throws {
    self.model = model
    self.method = method
    self.objective = objective
    self.options = options
    self.graph = try TrainingGraph(
      model: model, capacity: options.seqLen, maximumRank: max(method.lora?.maximumRank ?? 1, options.minimumRank),
      logitRows: plan.logitRows,
      dropout: method.loraDropout, maximumBottleneck: method.bottlenecks?.maximumBottleneck ?? 0,
      scalingVectors: method.scalings != nil, storesActivations: !plan.checkpointing,
      dora: method.lora?.hasDoRA == true, ledger: ledger)
    var hyperparameters = AdamW.Hyperparameters()
    hyperparameters.weightDecay = options.weightDecay
    self.optimizer = try AdamW(
      parameters: method.parameters, hyperparameters: hyperparameters,
      state: plan.optimizerState.makeStore(parameters: method.parameters, ledger: ledger), ledger: ledger)
    self.schedule = try LearningRateSchedule(
      kind: options.schedule, peak: options.learningRate, warmupSteps: options.warmupSteps, totalSteps: options.steps)
  }

  /// One optimizer step on the objective's next gradients.
  public func trainStep() throws -> StepReport {
    let start = ContinuousClock.now
    method.parameters.zeroGradients()
    let result = try objective.accumulateStep(step, graph: graph, method: method)
    let norm = method.parameters.clipGradients(maxNorm: options.maxGradientNorm)
    let learningRate = schedule.lr(step)
    RunPhase.enter(.optimizer)
    if norm.isFinite && result.counted > 0 { try optimizer.step(method.parameters, learningRate: learningRate) }
    step += 1
    var report = StepReport(
      step: step, loss: result.loss, tokens: result.tokens, learningRate: learningRate, gradientNorm: norm,
      seconds: (ContinuousClock.now - start).seconds, metrics: result.metrics)
    if options.evalEvery > 0, step % options.evalEvery == 0 || step == options.steps {
      report.evaluation = try evaluate()
    }
    return report
  }

  /// The objective's held-out figures ("loss" first among them), or nil without held-out data.
  public func evaluate() throws -> [String: Double]? {
    RunPhase.enter(.eval)
    return try objective.evaluate(graph: graph, method: method)
  }

  // MARK: checkpoints

  /// Writes `directory/checkpoint-STEP` (adapter, optimizer state, data position) atomically: built under a temporary
  /// name and renamed, so a checkpoint directory that exists is complete.
  public func saveCheckpoint(in directory: String) throws -> String {
    RunPhase.enter(.save)
    let final = (directory as NSString).appendingPathComponent("checkpoint-\(step)")
    let temporary = final + ".partial-\(UInt32.random(in: 0...UInt32.max))"
    TemporaryFiles.register(temporary)  // before it exists: removed on SIGINT/SIGTERM too
    defer {
      try? FileManager.default.removeItem(atPath: temporary)
      TemporaryFiles.unregister(temporary)
    }
    try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
    try method.save(
      to: (temporary as NSString).appendingPathComponent("adapter"), baseModel: model.path, overwrite: false)
    try optimizer.save(
      to: (temporary as NSString).appendingPathComponent("optimizer.safetensors"), parameters: method.parameters)
    func writeState(_ objective: some TrainingObjective) throws {
      let state = TrainerState(step: step, objective: objective.checkpointState)
      let path = (temporary as NSString).appendingPathComponent(TrainerState<Int>.fileName)
      try TrainingJSON.write(state, to: path, pretty: false)
    }
    try writeState(objective)
    if FileManager.default.fileExists(atPath: final) { try FileManager.default.removeItem(atPath: final) }
    try FileManager.default.moveItem(atPath: temporary, toPath: final)
    return final
  }

  /// Restores adapter values, optimizer state, step and data position from a checkpoint directory; a
  /// trainer_state.json that is missing a key or has one of the wrong type is refused, naming the file and the key.
  public func resume(from checkpoint: String, ledger: MemoryLedger) throws {
    let statePath = (checkpoint as NSString).appendingPathComponent(TrainerState<Int>.fileName)
    guard FileManager.default.fileExists(atPath: statePath) else {
      throw TrainingError.checkpoint(
        path: checkpoint, reason: "trainer_state.json is missing; not a checkpoint directory")
    }
    // Generic over the objective, so its state decodes as its own type.
    func resume<Objective: TrainingObjective>(_ objective: Objective) throws {
      let state: TrainerState<Objective.CheckpointState>
      do {
        state = try TrainingJSON.read(TrainerState.self, path: statePath)
      } catch TrainingError.checkpoint(let path, let reason) {
        throw TrainingError.checkpoint(path: path, reason: "not a trainer state of this version: \(reason)")
      }
      guard state.step >= 0 else {
        throw TrainingError.checkpoint(path: statePath, reason: "step \(state.step) is negative: the file is damaged")
      }
      guard state.step <= options.steps else {
        throw TrainingError.checkpoint(
          path: checkpoint,
          reason: "the checkpoint is at step \(state.step), past this run's last step \(options.steps); to continue "
            + "training it, run more steps than \(state.step)")
      }
      try method.restoreValues(from: (checkpoint as NSString).appendingPathComponent("adapter"), ledger: ledger)
      try optimizer.load(
        from: (checkpoint as NSString).appendingPathComponent("optimizer.safetensors"), parameters: method.parameters)
      try objective.restore(state.objective)
      step = state.step
    }
    try resume(objective)
  }
}
