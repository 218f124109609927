import Formats
import Foundation
import Memory
import Model
import Paging
import Profiling
import Training

/// One training run from options to result, shared by `train lora`, `train prompt` and `profile`: load, plan against
/// the budget (and fail before anything starts if it cannot fit), apply the plan's choices, train under the watchdog,
/// save. What differs between methods comes from a `MethodRecipe`.
final class TrainingRun {
  /// What a finished run hands back for its report.
  struct Outcome {
    var report: [String: Any]
    var plan: MemoryPlan
    var summary: String
  }

  let options: TrainingOptions
  let recipe: MethodRecipe
  let ledger: MemoryLedger
  let model: LanguageModel
  let planned: TrainingPlan.Result
  let watchdog: MemoryWatchdog

  /// Loads the model and plans the run. Throws `BudgetError` with the plan table when the budget cannot be met.
  init(
    options: TrainingOptions, recipe: MethodRecipe, watchdogInterval: Duration = .milliseconds(100),
    keepSamples: Bool = false
  ) throws {
    self.options = options
    self.recipe = recipe
    options.threads.apply()
    RunPhase.enter(.load)
    let model = try ModelLoader.load(path: options.model.model)
    try recipe.validate(model.config)
    RunPhase.enter(.plan)
    let planned = try Self.plan(options: options, recipe: recipe, model: model)
    self.ledger = try options.budget.apply((planned.plan, planned.residency), to: model, what: "this training run")
    self.model = model
    self.planned = planned
    let plan = planned.plan
    watchdog = MemoryWatchdog(
      ledger: ledger, budget: options.budget.bytes,
      plannedOutsideLedger: plan.outsideLedger,
      interval: watchdogInterval, keepSamples: keepSamples, pressureFraction: options.stopAt,
      relieve: { [model] in
        model.dropAllWeightPages()
        MallocTuning.trim()
      })
    Output.diagnostic(
      "plan: peak \(ByteCount.format(plan.total))"
        + (options.budget.bytes.map { " within a budget of \(ByteCount.format($0))" } ?? " (no budget)"))
  }

  /// The plan for `options` on an opened model (nothing else is loaded).
  static func plan(options: TrainingOptions, recipe: MethodRecipe, model: LanguageModel) throws
    -> TrainingPlan.Result
  {
    var dataBytes = 0
    for text in options.data + (options.val.map { [$0] } ?? []) {
      let path = (try? DataSourceSpec.parse(text))?.path ?? text
      dataBytes += fileSize(atPath: path)
    }
    let (placement, notice) = try options.optimizer.placement()
    if let notice { Output.diagnostic("notice: \(notice)") }
    var planOptions = TrainingPlan.Options(
      seqLen: options.seqLen, rank: 1, targets: [], dataFileBytes: dataBytes, optimizerState: placement)
    recipe.plan(&planOptions)
    planOptions.pagedPlacement = options.optimizer.pagedPlacement
    planOptions.checkpointing = options.checkpointingChoice
    return TrainingPlan.make(model: model, options: planOptions, budget: options.budget.bytes)
  }

  /// Trains for `steps` (or the options' --steps/--epochs), saving the adapter to `out` and checkpoints beside it.
  func execute(out: String, defaultSteps: Int? = nil) throws -> Outcome {
    let o = options
    let wallStart = ContinuousClock.now
    watchdog.begin()
    defer { watchdog.end() }
    RunPhase.enter(.load)
    // Data: every source tokenized up front, so bad input stops the run before any training.
    let encoder = ExampleEncoder(
      model: model,
      options: DataOptions(
        seqLen: o.seqLen, trainOnPrompt: o.trainOnPrompt, skipBadLines: o.skipBadLines,
        virtualTokens: recipe.virtualTokens))
    let prepared = try prepareObjective(encoder: encoder)
    // Parsing JSONL leaves freed heap behind; give it back before the long phase starts.
    MallocTuning.trim()
    let totalSteps =
      (o.steps ?? o.epochs.map { max(1, Int(($0 * prepared.stepsPerEpoch).rounded(.up))) } ?? defaultSteps ?? 100)
      * prepared.stepMultiplier

    var trainerOptions = Trainer.Options()
    trainerOptions.steps = totalSteps
    trainerOptions.seqLen = recipe.objective.usesPairs ? 2 * o.seqLen : o.seqLen
    trainerOptions.learningRate = o.lr ?? recipe.defaultLearningRate
    trainerOptions.schedule = LearningRateSchedule.Kind(rawValue: o.schedule)!
    trainerOptions.warmupSteps = o.warmup
    trainerOptions.weightDecay = o.weightDecay
    trainerOptions.maxGradientNorm = o.maxGradNorm
    trainerOptions.evalEvery = o.evalEvery * prepared.stepMultiplier
    trainerOptions.saveEvery = o.saveEvery * prepared.stepMultiplier
    trainerOptions.minimumRank = prepared.graphRank
    trainerOptions.logitRows = planned.logitRows
    trainerOptions.checkpointing = planned.checkpointing
    trainerOptions.optimizerState = planned.optimizerState
    let method = try recipe.make(model, ledger)
    let trainer = try Trainer(
      model: model, method: method, objective: prepared.objective, options: trainerOptions, ledger: ledger)
    if let resume = o.resume {
      try trainer.resume(from: resume, ledger: ledger)
      Output.diagnostic("resumed from \(resume) at step \(trainer.step)")
    }
    Output.diagnostic("optimizer state: \(trainer.optimizer.state.summary)")
    Output.diagnostic(
      "training \(recipe.summary): "
        + "\(method.parameters.parameterCount) trainable parameters, "
        + (prepared.stepMultiplier > 1
          ? "\(totalSteps / prepared.stepMultiplier) steps (\(totalSteps) optimizer steps) of \(prepared.stepUnits); "
          : "\(totalSteps) steps of \(prepared.stepUnits); ")
        + Output.ledgerLine(ledger))
    let evaluationBefore = trainer.step == 0 ? try trainer.evaluate() : nil
    let evalBefore = evaluationBefore?["loss"]
    if let evaluationBefore { Output.diagnostic("held-out before training: " + Self.describe(evaluationBefore)) }

    let checkpoints = out.hasSuffix("/") ? String(out.dropLast()) + ".checkpoints" : out + ".checkpoints"
    let bar = ProgressBar("train", total: totalSteps)
    var losses: [Double] = []
    var tokens = 0
    var trainSeconds = 0.0
    var peakAnon = 0
    var lastEvaluation: [String: Double]? = nil
    var metricCurves: [String: [Double]] = [:]
    while trainer.step < totalSteps {
      let r = try trainer.trainStep()
      losses.append(r.loss)
      for (key, value) in r.metrics { metricCurves[key, default: []].append(value) }
      tokens += r.tokens
      trainSeconds += r.seconds
      if let status = try? ProcStatus.current() { peakAnon = max(peakAnon, status.rssAnon) }
      if let e = r.evaluation { lastEvaluation = e }
      bar.update(
        r.step,
        detail: String(
          format: "step %d loss %.4f lr %.2e %.0f tok/s", r.step, r.loss, r.learningRate,
          Double(tokens) / max(trainSeconds, 1e-9))
          + (r.metrics["accuracy"].map { String(format: " acc %.2f", $0) } ?? "")
          + (r.metrics["score"].map { String(format: " score %.2f", $0) } ?? "")
          + (r.metrics["kl"].map { String(format: " kl %.2f", $0) } ?? "")
          + (r.evalLoss.map { String(format: " eval %.4f", $0) } ?? ""))
      if watchdog.stopRequested {
        bar.finish()
        let saved = try trainer.saveCheckpoint(in: checkpoints)
        throw BudgetError(
          "stopped after step \(r.step) to stay within the budget of \(ByteCount.format(options.budget.bytes ?? 0)): "
            + "RSS reached \(Int(watchdog.pressureFraction * 100))% of it even after dropping weight pages. "
            + "Checkpoint saved to \(saved); continue with --resume \(saved) and a larger --budget "
            + "(the plan expected \(ByteCount.format(planned.plan.total))).")
      }
      if o.saveEvery > 0, r.step % trainerOptions.saveEvery == 0, r.step < totalSteps {
        _ = try trainer.saveCheckpoint(in: checkpoints)
      }
    }
    bar.finish()
    if lastEvaluation == nil { lastEvaluation = try trainer.evaluate() }
    let lastEval = lastEvaluation?["loss"]
    RunPhase.enter(.save)
    try method.save(to: out, baseModel: o.model.model, overwrite: true)
    RunPhase.enter(.idle)
    watchdog.sample()
    let status = try ProcStatus.current()
    peakAnon = max(peakAnon, status.rssAnon)
    let wall = (ContinuousClock.now - wallStart).seconds
    let snapshot = ledger.snapshot()
    let streaming = model.residency.counters
    var report: [String: Any] = [
      "method": recipe.name, "steps": totalSteps, "tokens": tokens,
      "tokens_per_second": Double(tokens) / max(trainSeconds, 1e-9),
      "wall_seconds": wall, "train_seconds": trainSeconds, "peak_rss_bytes": status.vmHWM, "peak_anon_bytes": peakAnon,
      "ledger_peak_bytes": snapshot.peakBytes, "ledger_peak_bytes_by_label": snapshot.peakByLabel,
      "loss_first": losses.first ?? 0, "loss_last": losses.last ?? 0, "loss_curve": losses,
      "eval_loss": lastEval as Any,
      "eval_loss_before": evalBefore as Any, "trainable_parameters": method.parameters.parameterCount,
      "seq_len": o.seqLen,
      "batch": o.batch, "grad_accum": o.gradAccum, "lr": o.lr ?? recipe.defaultLearningRate, "model": o.model.model,
      "adapter": out,
    ]
    report.merge(recipe.report) { $1 }
    report.merge(prepared.report) { $1 }
    if !metricCurves.isEmpty { report["metric_curves"] = metricCurves }
    if let lastEvaluation, !Self.isSupervised(recipe) { report["eval"] = lastEvaluation }
    if let evaluationBefore, !Self.isSupervised(recipe) { report["eval_before"] = evaluationBefore }
    if let ppo = prepared.objective as? PPOObjective { report["ppo_batches"] = ppo.history }
    report.merge(planReport()) { $1 }
    report["optimizer_state"] = trainer.optimizer.state.summary
    report["optimizer_state_bytes"] = trainer.optimizer.state.stateBytes
    if let paging = trainer.optimizer.state.paging {
      report["paging"] = Self.pagingReport(paging, seconds: trainSeconds)
    }
    report["streaming"] = [
      "layer_drops": streaming.layerDrops, "prefetches": streaming.prefetches, "tile_drops": streaming.tileDrops,
    ]
    // Held-out figures before → after: the loss, and the objective's own (accuracy, margin, score, KL).
    var heldOut: [String] = []
    for key in ["loss", "accuracy", "margin", "score", "kl"] {
      let before = evaluationBefore?[key]
      let after = lastEvaluation?[key]
      guard before != nil || after != nil else { continue }
      heldOut.append(
        "\(key == "loss" ? "" : key + " ")" + (before.map { String(format: "%.4f", $0) } ?? "-") + " → "
          + (after.map { String(format: "%.4f", $0) } ?? "-"))
    }
    let summary =
      "adapter saved to \(out): \(totalSteps) steps, "
      + String(format: "loss %.4f → %.4f, ", losses.first ?? 0, losses.last ?? 0)
      + "held-out " + (heldOut.isEmpty ? "-" : heldOut.joined(separator: ", ")) + ", "
      + String(format: "%.0f tokens/s, ", Double(tokens) / max(trainSeconds, 1e-9))
      + "peak RSS \(ByteCount.format(status.vmHWM)), peak anonymous \(ByteCount.format(peakAnon))"
      + (options.budget.bytes.map { " (budget \(ByteCount.format($0)))" } ?? "")
    return Outcome(report: report, plan: planned.plan, summary: summary)
  }

  /// An objective and what it needs from the data options.
  struct PreparedObjective {
    var objective: any TrainingObjective
    /// Optimizer steps in one pass over the training data (for --epochs).
    var stepsPerEpoch: Double
    /// "N tokens" / "N pairs", for the log.
    var stepUnits: String
    var report: [String: Any]
    /// Optimizer steps per step the user counts (PPO: one batch of rollouts is several optimizer steps).
    var stepMultiplier = 1
    /// LoRA rank the graph must hold besides the method's.
    var graphRank = 1
  }

  /// Reads and tokenizes the data the recipe's objective trains on (the split of a validation set included).
  func prepareObjective(encoder: ExampleEncoder) throws -> PreparedObjective {
    let o = options
    switch recipe.objective {
    case .supervised:
      guard !o.data.isEmpty else { throw TrainingError.invalidOption(name: "--data", reason: "give the training data") }
      var sources: [(dataset: JSONLDataset, weight: Double)] = []
      var validation: JSONLDataset?
      for (i, text) in o.data.enumerated() {
        let spec = try DataSourceSpec.parse(text)
        var dataset = try JSONLDataset.load(path: spec.path, encoder: encoder)
        Output.diagnostic("data \(spec.path): \(dataset.report.summary)")
        if i == 0 && o.val == nil && o.valFraction > 0 && dataset.count >= 20 {
          let parts = try dataset.split(fraction: o.valFraction, seed: o.seed)
          dataset = parts.train
          validation = parts.validation
        }
        sources.append((dataset, spec.weight))
      }
      if let val = o.val { validation = try JSONLDataset.load(path: val, encoder: encoder) }
      let packer = try SequencePacker(batchSize: o.batch, seqLen: o.seqLen, model: model)
      let stream = BatchStream(packer: packer, mixture: try DataMixture(sources: sources, seed: o.seed))
      let tokensPerStep = o.batch * o.seqLen * o.gradAccum
      let corpusTokens = sources.reduce(0) { $0 + $1.dataset.report.tokens }
      return PreparedObjective(
        objective: SupervisedObjective(
          stream: stream, sources: sources, validation: validation, gradientAccumulation: o.gradAccum),
        stepsPerEpoch: Double(corpusTokens) / Double(tokensPerStep), stepUnits: "\(tokensPerStep) tokens", report: [:])
    case .ppo(let settings):
      let reward = try RewardModel.load(
        from: settings.rewardModel, model: model.config, tokenizer: model.tokenizer.fingerprint, ledger: ledger)
      let room = o.seqLen - settings.options.maxNewTokens
      let prompts = try PromptSet.load(path: settings.prompts, model: model, maxTokens: room)
      let validation = try settings.validationPrompts.map {
        try PromptSet.load(path: $0, model: model, maxTokens: room)
      }
      Output.diagnostic(
        "prompts \(settings.prompts): \(prompts.count)"
          + (validation.map { ", held out \($0.path): \($0.count) (evaluated: at most 32)" } ?? ""))
      let objective = try PPOObjective(
        prompts: prompts, validation: validation, reward: reward, model: model, encoder: encoder, capacity: o.seqLen,
        options: settings.options, ledger: ledger)
      let p = settings.options
      return PreparedObjective(
        objective: objective, stepsPerEpoch: Double(prompts.count) / Double(p.rollouts),
        stepUnits: "\(p.rollouts) rollouts × \(p.epochs) epochs in minibatches of \(p.miniBatch)",
        report: [
          "reward_model": settings.rewardModel, "prompts": prompts.count, "rollouts": p.rollouts,
          "mini_batch": p.miniBatch, "ppo_epochs": p.epochs, "kl_coef": p.klCoefficient, "clip": p.clip,
          "value_clip": p.valueClip, "vf_coef": p.valueCoefficient, "gamma": p.gamma, "lambda": p.lambda,
          "temperature": Double(p.temperature), "max_new_tokens": p.maxNewTokens,
          "missing_eos_penalty": p.missingEOSPenalty,
        ], stepMultiplier: p.optimizerStepsPerBatch, graphRank: reward.adapters.config.rank)
    case .reward(let margin):
      let (train, validation) = try preferencePairs(encoder: encoder)
      return try PreparedObjective(
        pairs: train, validation: validation, pairsPerStep: o.batch * o.gradAccum, report: ["margin": margin]
      ) {
        try RewardObjective(train: train, validation: validation, pairsPerStep: $0, margin: margin, seed: o.seed)
      }
    case .dpo(let beta, let kind, let alpha):
      let (train, validation) = try preferencePairs(encoder: encoder)
      return try PreparedObjective(
        pairs: train, validation: validation, pairsPerStep: o.batch * o.gradAccum,
        report: ["beta": beta, "loss_type": kind.rawValue, "rpo_alpha": alpha]
      ) {
        try DPOObjective(
          train: train, validation: validation, pairsPerStep: $0, beta: beta, kind: kind, chosenNLLWeight: alpha,
          seed: o.seed)
      }
    }
  }

  /// The preference pairs of a reward or DPO run: one --data file, and a validation set from --val or split off.
  func preferencePairs(encoder: ExampleEncoder) throws -> (train: PreferenceDataset, validation: PreferenceDataset?) {
    let o = options
    guard o.data.count == 1, (try? DataSourceSpec.parse(o.data[0]))?.weight ?? 1 == 1 else {
      throw TrainingError.invalidOption(
        name: "--data", reason: "preference training takes one file of pairs (no mixing weights)")
    }
    let train = try PreferenceDataset.load(path: o.data[0], encoder: encoder)
    Output.diagnostic("data \(o.data[0]): \(train.report.summary)")
    if let val = o.val { return (train, try PreferenceDataset.load(path: val, encoder: encoder)) }
    if o.valFraction > 0 && train.count >= 20 {
      let parts = try train.split(fraction: o.valFraction, seed: o.seed)
      return (parts.train, parts.validation)
    }
    return (train, nil)
  }

  static func isSupervised(_ recipe: MethodRecipe) -> Bool {
    if case .supervised = recipe.objective { return true }
    return false
  }

  /// "loss 0.4312, accuracy 0.91, …" for the log.
  static func describe(_ figures: [String: Double]) -> String {
    let order = ["loss", "accuracy", "margin", "chosen", "rejected"]
    return figures.keys.sorted { (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1) }
      .filter { $0 != "pairs" }.map { $0 + String(format: " %.4f", figures[$0]!) }.joined(separator: ", ")
  }

  /// The paging figures of a report: pages and bytes moved, compression, and how much of the I/O the optimizer
  /// waited for (the rest overlapped compute).
  static func pagingReport(_ p: PagingStatistics, seconds: Double) -> [String: Any] {
    [
      "pages_in": p.pagesIn, "pages_out": p.pagesOut, "bytes_read": p.bytesRead, "bytes_written": p.bytesWritten,
      "uncompressed_bytes_written": p.logicalBytesWritten, "compression_ratio": p.compressionRatio,
      "io_seconds": p.ioSeconds, "io_wait_seconds": p.waitSeconds,
      "io_wait_share": seconds > 0 ? p.waitSeconds / seconds : 0,
    ]
  }

  /// The plan and the watchdog's findings, for every report.
  func planReport() -> [String: Any] {
    let plan = planned.plan
    return [
      "budget_bytes": options.budget.bytes as Any,
      "planned_peak_bytes": plan.total,
      "plan": plan.linesJSON,
      "plan_choices": plan.choices,
      "weights_streamed": model.residency.isStreaming,
      "gradient_checkpointing": planned.checkpointing,
      "kernel_above_plan_max_bytes": watchdog.maxDrift,
      "kernel_above_plan_margin_bytes": watchdog.driftMargin,
      "kernel_above_plan_exceeded": watchdog.driftExceeded,
      "budget_reliefs": watchdog.reliefs,
    ]
  }
}

extension TrainingRun.PreparedObjective {
  /// A pair objective made by `make(pairsPerStep)`, with the pair counts in the report and epochs counted in pairs.
  init(
    pairs train: PreferenceDataset, validation: PreferenceDataset?, pairsPerStep: Int, report: [String: Any],
    make: (Int) throws -> any TrainingObjective
  ) throws {
    self.init(
      objective: try make(pairsPerStep), stepsPerEpoch: Double(train.count) / Double(pairsPerStep),
      stepUnits: "\(pairsPerStep) pairs",
      report: report.merging(["pairs": train.count, "validation_pairs": validation?.count ?? 0]) { $1 })
  }
}
