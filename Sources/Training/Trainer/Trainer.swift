import Foundation
public import Memory
public import Model

/// Supervised fine-tuning of a method's trainable parts: batches from a `BatchStream`, gradients through the frozen
/// base (`TrainingGraph`), mean cross-entropy over the targeted tokens of each optimizer step, gradient clipping,
/// AdamW on a learning-rate schedule, periodic evaluation and checkpoints. One trainer for every `TrainableMethod`
/// (LoRA, soft prompts, …).
public final class Trainer {
  public struct Options: Sendable {
    public var steps = 100
    public var seqLen = 256
    public var batchSize = 1
    public var gradientAccumulation = 1
    public var learningRate = 2e-4
    public var schedule = LearningRateSchedule.Kind.cosine
    public var warmupSteps = 0
    public var weightDecay = 0.0
    public var maxGradientNorm = 1.0
    public var evalEvery = 0
    public var saveEvery = 0
    public var logitRows = 16
    public var optimizerState = OptimizerStatePlacement.ram
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
    public var evalLoss: Double?
  }

  public let model: LanguageModel
  public let method: any TrainableMethod
  public let options: Options
  public private(set) var stream: BatchStream
  public let validation: JSONLDataset?
  public let graph: TrainingGraph
  public let optimizer: AdamW
  public let schedule: LearningRateSchedule
  public private(set) var step = 0

  public init(
    model: LanguageModel, method: any TrainableMethod, stream: BatchStream, validation: JSONLDataset?, options: Options,
    ledger: MemoryLedger
  ) throws {
    self.model = model
    self.method = method
    self.options = options
    self.stream = stream
    self.validation = validation
    self.graph = try TrainingGraph(
      model: model, capacity: options.seqLen, maximumRank: method.lora?.maximumRank ?? 1, logitRows: options.logitRows,
      dropout: method.loraDropout, maximumBottleneck: method.bottlenecks?.maximumBottleneck ?? 0,
      scalingVectors: method.scalings != nil, ledger: ledger)
    var hyperparameters = AdamW.Hyperparameters()
    hyperparameters.weightDecay = options.weightDecay
    self.optimizer = try AdamW(
      parameters: method.parameters, hyperparameters: hyperparameters,
      state: options.optimizerState.makeStore(parameters: method.parameters, ledger: ledger), ledger: ledger)
    self.schedule = try LearningRateSchedule(
      kind: options.schedule, peak: options.learningRate, warmupSteps: options.warmupSteps, totalSteps: options.steps)
  }

  /// One optimizer step over `gradientAccumulation` batches; the loss is the mean over their targeted tokens.
  public func trainStep() throws -> StepReport {
    let start = ContinuousClock.now
    let batches = (0..<options.gradientAccumulation).map { _ in stream.next() }
    let targets = batches.reduce(0) { $0 + $1.targetCount }
    method.parameters.zeroGradients()
    var lossSum = 0.0
    var tokens = 0
    if targets > 0 {
      let scale = Float(1 / Double(targets))
      for (micro, batch) in batches.enumerated() {
        for r in 0..<batch.batchSize {
          let rows = (r * batch.seqLen)..<((r + 1) * batch.seqLen)
          let row = TrainingGraph.Row(
            tokens: Array(batch.tokens[rows]), targets: Array(batch.targets[rows]),
            segmentStarts: Array(batch.segmentStarts[rows]),
            dropoutSeed: method.seed ^ (UInt64(step) &* 0x94D0_49BB_1331_11EB)
              ^ UInt64(micro * batch.batchSize + r))
          guard row.targets.contains(where: { $0 >= 0 }) else { continue }
          lossSum += try graph.accumulateGradients(row, method: method, lossScale: scale).lossSum
        }
        tokens += batch.tokens.count - batch.paddingCount
      }
    }
    let norm = method.parameters.clipGradients(maxNorm: options.maxGradientNorm)
    let learningRate = schedule.lr(step)
    RunPhase.enter(.optimizer)
    if norm.isFinite && targets > 0 { try optimizer.step(method.parameters, learningRate: learningRate) }
    step += 1
    var report = StepReport(
      step: step, loss: targets > 0 ? lossSum / Double(targets) : 0, tokens: tokens, learningRate: learningRate,
      gradientNorm: norm, seconds: (ContinuousClock.now - start).seconds, evalLoss: nil)
    if options.evalEvery > 0, step % options.evalEvery == 0 || step == options.steps {
      report.evalLoss = try evaluate()
    }
    return report
  }

  /// Mean loss over the validation examples, packed into rows like training data (segments keep them apart), or
  /// nil without a validation set. `limit` caps the examples for periodic evaluation of big sets.
  public func evaluate(limit: Int = 1000) throws -> Double? {
    guard let validation else { return nil }
    RunPhase.enter(.eval)
    let subset = validation.count > limit ? validation.subset(Array(0..<limit)) : validation
    return try DatasetLoss.mean(subset, graph: graph, method: method, paddingID: stream.packer.paddingID)?.loss
  }

  // MARK: checkpoints

  struct State: Codable {
    var step: Int
    var stream: BatchStream.State
  }

  /// Writes `directory/checkpoint-STEP` (adapter, optimizer state, data position) atomically: built under a temporary
  /// name and renamed, so a checkpoint directory that exists is complete.
  public func saveCheckpoint(in directory: String) throws -> String {
    RunPhase.enter(.save)
    let final = (directory as NSString).appendingPathComponent("checkpoint-\(step)")
    let temporary = final + ".partial-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: temporary) }
    try method.save(
      to: (temporary as NSString).appendingPathComponent("adapter"), baseModel: model.path, overwrite: false)
    try optimizer.save(
      to: (temporary as NSString).appendingPathComponent("optimizer.safetensors"), parameters: method.parameters)
    let state = try JSONEncoder().encode(State(step: step, stream: stream.state))
    try state.write(to: URL(fileURLWithPath: (temporary as NSString).appendingPathComponent("trainer_state.json")))
    if FileManager.default.fileExists(atPath: final) { try FileManager.default.removeItem(atPath: final) }
    try FileManager.default.moveItem(atPath: temporary, toPath: final)
    return final
  }

  /// Restores adapter values, optimizer state, step and data position from a checkpoint directory.
  public func resume(from checkpoint: String, sources: [(dataset: JSONLDataset, weight: Double)], ledger: MemoryLedger)
    throws
  {
    let statePath = (checkpoint as NSString).appendingPathComponent("trainer_state.json")
    guard let data = FileManager.default.contents(atPath: statePath) else {
      throw TrainingError.checkpoint(
        path: checkpoint, reason: "trainer_state.json is missing; not a checkpoint directory")
    }
    let state = try JSONDecoder().decode(State.self, from: data)
    try method.restoreValues(from: (checkpoint as NSString).appendingPathComponent("adapter"), ledger: ledger)
    try optimizer.load(
      from: (checkpoint as NSString).appendingPathComponent("optimizer.safetensors"), parameters: method.parameters)
    stream = try BatchStream(packer: stream.packer, sources: sources, resuming: state.stream)
    step = state.step
  }
}
