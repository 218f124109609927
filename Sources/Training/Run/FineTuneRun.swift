import Foundation
import Memory
public import Model
import Paging

/// What a run tells its caller as it goes.
public enum FineTuneEvent {
  /// A line for the log: plan choices, data read, optimizer state, held-out figures before training.
  case note(String)
  /// An optimizer step finished. `tokensPerSecond` is the run's so far.
  case step(Trainer.StepReport, totalSteps: Int, tokensPerSecond: Double)
}

/// The caller's answer to an event: go on, or end the run after this step (the result is saved as it stands).
public enum FineTuneDecision: Sendable {
  case more
  case stop
}

/// One fine-tuning run, from a configuration to a saved result and its report: plan against the budget (failing
/// before anything starts when it cannot fit), prepare the method's objective and data, train under the watchdog,
/// save, and compare the kernel's peak with the budget.
///
/// ```swift
/// let model = try LanguageModel(path: "smollm2.nf4")
/// var configuration = FineTuneConfiguration(
///   model: model.path, method: .lora(try LoRAConfig(rank: 8)), output: "adapter")
/// configuration.data = [DataSourceSpec(path: "train.jsonl")]
/// configuration.budget = 256 << 20
/// let run = try FineTuneRun(configuration: configuration, model: model)
/// let report = try run.run { event in
///   if case .step(let step, _, _) = event { print(step.loss) }
///   return .more
/// }
/// ```
public final class FineTuneRun {
  public let configuration: FineTuneConfiguration
  public let definition: any MethodDefinition
  public let model: LanguageModel
  /// The plan, the ledger and the watchdog, made from the budget.
  public let setup: BudgetedSetup

  /// Plans the run on `model` (opened from `configuration.model`) and sets up its budget. Throws
  /// `BudgetError.doesNotFit` with the plan table when the budget cannot be met, and the method's or the
  /// configuration's errors (naming the parameter) when they are invalid.
  public init(configuration: FineTuneConfiguration, model: LanguageModel, note: (String) -> Void = { _ in }) throws {
    try configuration.validate()
    try configuration.checkOutput()
    for path in configuration.removeLeftovers() { note("removed \(path), left by an interrupted run") }
    self.configuration = configuration
    self.definition = configuration.method.definition
    self.model = model
    try definition.validate(model: model.config)
    RunPhase.enter(.plan)
    let planned = try Self.plan(configuration, model: model)
    setup = try BudgetedSetup(
      model: model, planned: planned, budget: configuration.budget, what: "this training run",
      stopAtFraction: configuration.stopAtFraction, interval: configuration.watchdogInterval,
      keepSamples: configuration.keepSamples)
    for choice in planned.plan.choices { note("plan: " + choice) }
    note(
      "plan: peak \(ByteCount.format(planned.plan.total))"
        + (configuration.budget.map { " within a budget of \(ByteCount.format($0))" } ?? " (no budget)"))
  }

  /// The plan of `configuration` on an opened model, nothing else loaded (for `plan` and before a run). A sequence
  /// longer than the model's context is refused here, before any size is computed from it.
  public static func plan(_ configuration: FineTuneConfiguration, model: LanguageModel) throws -> TrainingPlan.Result {
    let options = configuration.planOptions()
    let context = model.config.contextLength
    // Compared by division: a preference pair's row holds 2 × seqLen tokens, and 2 × a huge seqLen overflows.
    let rowsPerSequence = options.method.graphNeeds.pairRows ? 2 : 1
    try TrainingError.require(
      configuration.seqLen <= context / rowsPerSequence, "seqLen",
      "must be at most the model's context length \(context)"
        + (rowsPerSequence == 2 ? " / 2 (a preference pair's row holds both sequences)" : "")
        + ", not \(configuration.seqLen)")
    return TrainingPlan.make(model: model, options: options, budget: configuration.budget)
  }

  /// The steps `epochs` passes take, refused when they are more than can be counted.
  static func steps(epochs: Double, prepared: PreparedObjective) throws(TrainingError) -> Int {
    let steps = (epochs * prepared.stepsPerEpoch).rounded(.up)
    try TrainingError.require(
      steps < Double(Int.max), "epochs", "\(epochs) epochs are \(steps) steps, more than can be counted")
    return max(1, Int(steps))
  }

  /// `steps` counted in optimizer steps (PPO takes several per batch), refused when the product overflows.
  static func optimizerSteps(_ steps: Int, _ prepared: PreparedObjective, name: String) throws(TrainingError) -> Int {
    let (product, overflow) = steps.multipliedReportingOverflow(by: prepared.stepMultiplier)
    try TrainingError.require(
      !overflow, name, "\(steps) is \(steps) × \(prepared.stepMultiplier) optimizer steps, more than can be counted")
    return product
  }

  /// Trains, saves the result to `configuration.output` (checkpoints beside it) and returns the report. `progress`
  /// sees every event and may end the run after any step. A run the watchdog must stop to stay within the budget
  /// saves a checkpoint and throws `BudgetError.stopped`.
  public func run(progress: (FineTuneEvent) -> FineTuneDecision = { _ in .more }) throws -> FineTuneReport {
    let o = configuration
    let wallStart = ContinuousClock.now
    let watchdog = setup.watchdog
    let ledger = setup.ledger
    watchdog.begin()
    defer { watchdog.end() }
    func note(_ text: String) { _ = progress(.note(text)) }
    RunPhase.enter(.load)
    let encoder = ExampleEncoder(
      model: model,
      options: DataOptions(
        seqLen: o.seqLen, trainOnPrompt: o.trainOnPrompt, skipBadLines: o.skipBadLines,
        virtualTokens: definition.virtualTokens, rawPairs: o.rawPairs))
    note("data: " + encoder.pairRendering.description)
    let prepared = try withoutActuallyEscaping(note) { note in
      try definition.prepareObjective(
        ObjectiveContext(model: model, ledger: ledger, encoder: encoder, configuration: o, note: note))
    }
    // Parsing JSONL leaves freed heap behind; give it back before the long phase starts.
    MallocTuning.trim()
    let userSteps = try o.steps ?? o.epochs.map { try Self.steps(epochs: $0, prepared: prepared) } ?? o.defaultSteps
    let totalSteps = try Self.optimizerSteps(userSteps, prepared, name: "steps")
    let learningRate = o.learningRate ?? definition.defaultLearningRate

    var trainerOptions = Trainer.Options()
    trainerOptions.steps = totalSteps
    trainerOptions.seqLen = definition.graphNeeds.pairRows ? 2 * o.seqLen : o.seqLen
    trainerOptions.learningRate = learningRate
    trainerOptions.schedule = o.schedule
    trainerOptions.warmupSteps = o.warmupSteps
    trainerOptions.weightDecay = o.weightDecay
    trainerOptions.maxGradientNorm = o.maxGradientNorm
    trainerOptions.evalEvery = try Self.optimizerSteps(o.evalEvery, prepared, name: "evalEvery")
    trainerOptions.saveEvery = try Self.optimizerSteps(o.saveEvery, prepared, name: "saveEvery")
    trainerOptions.minimumRank = prepared.graphRank
    let method = try definition.make(model: model, ledger: ledger)
    let trainer = try Trainer(
      model: model, method: method, objective: prepared.objective, options: trainerOptions, plan: setup.planned,
      ledger: ledger)
    if let resume = o.resume {
      try trainer.resume(from: resume, ledger: ledger)
      note("resumed from \(resume) at step \(trainer.step)")
    }
    note("optimizer state: \(trainer.optimizer.state.summary)")
    note(
      "training \(definition.summary): \(method.parameters.parameterCount) trainable parameters, "
        + (prepared.stepMultiplier > 1
          ? "\(userSteps) steps (\(totalSteps) optimizer steps) of \(prepared.stepUnits); "
          : "\(totalSteps) steps of \(prepared.stepUnits); ")
        + ledger.peakLine())
    let evaluationBefore = trainer.step == 0 ? try trainer.evaluate() : nil
    if let evaluationBefore { note("held-out before training: " + Self.describe(evaluationBefore)) }

    var curves = Curves()
    var lastEvaluation: [String: Double]?
    var stoppedEarly = false
    while trainer.step < totalSteps {
      let r = try trainer.trainStep()
      curves.add(r, rss: (try? ProcStatus.current()))
      if let e = r.evaluation { lastEvaluation = e }
      let decision = progress(.step(r, totalSteps: totalSteps, tokensPerSecond: curves.tokensPerSecond))
      if watchdog.stopRequested {
        let saved = try trainer.saveCheckpoint(in: o.checkpointDirectory)
        throw BudgetError.stopped(
          step: r.step, budget: o.budget ?? 0, fraction: watchdog.pressureFraction, checkpoint: saved,
          planned: setup.planned.plan.total)
      }
      if o.saveEvery > 0, r.step % trainerOptions.saveEvery == 0, r.step < totalSteps {
        _ = try trainer.saveCheckpoint(in: o.checkpointDirectory)
      }
      if decision == .stop && trainer.step < totalSteps {
        stoppedEarly = true
        break
      }
    }
    // After the last step the watchdog can no longer stop the run: only the final check can see this.
    if o.untrackedAllocationBytes > 0 { touchUntrackedPages(bytes: o.untrackedAllocationBytes) }
    if lastEvaluation == nil { lastEvaluation = try trainer.evaluate() }
    RunPhase.enter(.save)
    try method.save(to: o.output, baseModel: o.model, overwrite: true)
    RunPhase.enter(.idle)
    let (status, peak, crossed) = setup.finalCheck()
    let snapshot = ledger.snapshot()
    let streaming = model.residency.counters
    let supervised = prepared.objective is SupervisedObjective
    var figures = RunFigures(
      method: definition.name, steps: totalSteps, tokens: curves.tokens, tokensPerSecond: curves.tokensPerSecond,
      wallSeconds: (ContinuousClock.now - wallStart).seconds, trainSeconds: curves.seconds, peakRSSBytes: peak,
      peakAnonBytes: max(curves.peakAnon, status?.rssAnon ?? 0),
      ledgerPeakBytes: snapshot.peakBytes, ledgerPeakBytesByLabel: snapshot.peakByLabel,
      lossFirst: curves.losses.first ?? 0, lossLast: curves.losses.last ?? 0, lossCurve: curves.losses,
      learningRateCurve: curves.learningRates, rssCurve: curves.rss, tokensPerSecondCurve: curves.stepTokensPerSecond,
      evalLoss: lastEvaluation?["loss"],
      evalLossBefore: evaluationBefore?["loss"], evalCurve: curves.evaluations,
      trainableParameters: method.parameters.parameterCount, seqLen: o.seqLen, batch: o.batch,
      gradAccum: o.gradientAccumulation, lr: learningRate, model: o.model, adapter: o.output,
      metricCurves: curves.metrics.isEmpty ? nil : curves.metrics, eval: supervised ? nil : lastEvaluation,
      evalBefore: supervised ? nil : evaluationBefore, ppoBatches: (prepared.objective as? PPOObjective)?.history,
      pairs: prepared.pairs, validationPairs: prepared.validationPairs, prompts: prepared.prompts,
      optimizerState: trainer.optimizer.state.summary, optimizerStateBytes: trainer.optimizer.state.stateBytes,
      paging: trainer.optimizer.state.paging.map { PagingReport($0, seconds: curves.seconds) },
      streaming: StreamingReport(
        layerDrops: streaming.layerDrops, prefetches: streaming.prefetches, tileDrops: streaming.tileDrops),
      stoppedEarly: stoppedEarly, budgetCrossed: crossed)
    figures.pairRendering = encoder.pairRendering
    return FineTuneReport(run: figures, method: definition.reportFields, plan: setup.report())
  }

  /// "loss 0.4312, accuracy 0.91, …" for the log.
  public static func describe(_ figures: [String: Double]) -> String {
    let order = ["loss", "accuracy", "margin", "chosen", "rejected"]
    return figures.keys.sorted { (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1) }
      .filter { $0 != "pairs" }.map { $0 + String(format: " %.4f", figures[$0]!) }.joined(separator: ", ")
  }
}

/// The per-step figures a run collects for its report.
struct Curves {
  var losses: [Double] = []
  var learningRates: [Double] = []
  var rss: [Int] = []
  var stepTokensPerSecond: [Double] = []
  var evaluations: [RunFigures.EvalPoint] = []
  var metrics: [String: [Double]] = [:]
  var tokens = 0
  var seconds = 0.0
  var peakAnon = 0

  var tokensPerSecond: Double { Double(tokens) / max(seconds, 1e-9) }

  mutating func add(_ r: Trainer.StepReport, rss status: ProcStatus?) {
    losses.append(r.loss)
    learningRates.append(r.learningRate)
    for (key, value) in r.metrics { metrics[key, default: []].append(value) }
    if let loss = r.evalLoss { evaluations.append(.init(step: r.step, loss: loss)) }
    tokens += r.tokens
    seconds += r.seconds
    stepTokensPerSecond.append(Double(r.tokens) / max(r.seconds, 1e-9))
    if let status {
      rss.append(status.vmRSS)
      peakAnon = max(peakAnon, status.rssAnon)
    }
  }
}

extension PagingReport {
  init(_ p: PagingStatistics, seconds: Double) {
    self.init(
      pagesIn: p.pagesIn, pagesOut: p.pagesOut, bytesRead: p.bytesRead, bytesWritten: p.bytesWritten,
      uncompressedBytesWritten: p.logicalBytesWritten, compressionRatio: p.compressionRatio,
      ioSeconds: p.ioSeconds, ioWaitSeconds: p.waitSeconds, ioWaitShare: seconds > 0 ? p.waitSeconds / seconds : 0)
  }
}
