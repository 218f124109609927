public import Memory

/// A method's own fields in a run's report (each method fills the ones that apply; the rest stay out of the JSON).
public struct MethodReportFields: Codable, Sendable, Equatable {
  public var rank: Int?
  public var alpha: Double?
  public var useDoRA: Bool?
  public var targets: [String]?
  public var virtualTokens: Int?
  public var promptInit: String?
  public var architecture: String?
  public var reductionFactor: Int?
  public var nonLinearity: String?
  public var tensors: String?
  public var layers: Int?
  public var margin: Double?
  public var beta: Double?
  public var lossType: String?
  public var rpoAlpha: Double?
  public var rewardModel: String?
  public var initAdapter: String?
  public var rollouts: Int?
  public var miniBatch: Int?
  public var ppoEpochs: Int?
  public var klCoef: Double?
  public var clip: Double?
  public var valueClip: Double?
  public var vfCoef: Double?
  public var gamma: Double?
  public var lambda: Double?
  public var temperature: Double?
  public var maxNewTokens: Int?
  public var missingEOSPenalty: Double?

  public init() {}

  enum CodingKeys: String, CodingKey {
    case rank, alpha, targets, architecture, tensors, layers, margin, beta, rollouts, clip, gamma, lambda, temperature
    case useDoRA = "use_dora"
    case virtualTokens = "virtual_tokens"
    case promptInit = "prompt_init"
    case reductionFactor = "reduction_factor"
    case nonLinearity = "non_linearity"
    case lossType = "loss_type"
    case rpoAlpha = "rpo_alpha"
    case rewardModel = "reward_model"
    case initAdapter = "init_adapter"
    case miniBatch = "mini_batch"
    case ppoEpochs = "ppo_epochs"
    case klCoef = "kl_coef"
    case valueClip = "value_clip"
    case vfCoef = "vf_coef"
    case maxNewTokens = "max_new_tokens"
    case missingEOSPenalty = "missing_eos_penalty"
  }
}

/// One line of a memory plan, as reports carry it.
public struct PlanLineReport: Codable, Sendable, Equatable {
  public var label: String
  public var bytes: Int
  public var kind: String
  public var note: String

  public init(_ line: MemoryPlan.Line) {
    label = line.label
    bytes = line.bytes
    kind = line.kind.rawValue
    note = line.note
  }
}

/// The optimizer state's paging figures: pages and bytes moved, compression, and how much of the I/O the optimizer
/// waited for (the rest overlapped compute).
public struct PagingReport: Codable, Sendable, Equatable {
  public var pagesIn: Int
  public var pagesOut: Int
  public var bytesRead: Int
  public var bytesWritten: Int
  public var uncompressedBytesWritten: Int
  public var compressionRatio: Double
  public var ioSeconds: Double
  public var ioWaitSeconds: Double
  public var ioWaitShare: Double

  enum CodingKeys: String, CodingKey {
    case pagesIn = "pages_in"
    case pagesOut = "pages_out"
    case bytesRead = "bytes_read"
    case bytesWritten = "bytes_written"
    case uncompressedBytesWritten = "uncompressed_bytes_written"
    case compressionRatio = "compression_ratio"
    case ioSeconds = "io_seconds"
    case ioWaitSeconds = "io_wait_seconds"
    case ioWaitShare = "io_wait_share"
  }
}

/// Weight streaming's counters over the run.
public struct StreamingReport: Codable, Sendable, Equatable {
  public var layerDrops: Int
  public var prefetches: Int
  public var tileDrops: Int

  enum CodingKeys: String, CodingKey {
    case layerDrops = "layer_drops"
    case prefetches
    case tileDrops = "tile_drops"
  }
}

/// The plan of a run and what the budget's watchdog found, in every report (also a failed or stopped run's).
public struct PlanReport: Codable, Sendable, Equatable {
  public var budgetBytes: Int?
  public var plannedPeakBytes: Int
  public var plan: [PlanLineReport]
  public var planChoices: [String]
  public var weightsStreamed: Bool
  public var gradientCheckpointing: Bool
  public var kernelAbovePlanMaxBytes: Int
  public var kernelAbovePlanMarginBytes: Int
  public var kernelAbovePlanExceeded: Bool
  public var budgetReliefs: Int

  enum CodingKeys: String, CodingKey {
    case plan
    case budgetBytes = "budget_bytes"
    case plannedPeakBytes = "planned_peak_bytes"
    case planChoices = "plan_choices"
    case weightsStreamed = "weights_streamed"
    case gradientCheckpointing = "gradient_checkpointing"
    case kernelAbovePlanMaxBytes = "kernel_above_plan_max_bytes"
    case kernelAbovePlanMarginBytes = "kernel_above_plan_margin_bytes"
    case kernelAbovePlanExceeded = "kernel_above_plan_exceeded"
    case budgetReliefs = "budget_reliefs"
  }
}

/// What a finished fine-tuning run reports: its settings, the learning curves, speed, the kernel's memory figures
/// against the plan and the budget. Encoded flat (the run's, the method's and the plan's fields side by side), as
/// `report.json` has always been; tests decode the same type.
public struct FineTuneReport: Codable, Sendable {
  public var run: RunFigures
  public var method: MethodReportFields
  public var plan: PlanReport

  public init(run: RunFigures, method: MethodReportFields, plan: PlanReport) {
    self.run = run
    self.method = method
    self.plan = plan
  }

  public init(from decoder: any Decoder) throws {
    run = try RunFigures(from: decoder)
    method = try MethodReportFields(from: decoder)
    plan = try PlanReport(from: decoder)
  }

  public func encode(to encoder: any Encoder) throws {
    try run.encode(to: encoder)
    try method.encode(to: encoder)
    try plan.encode(to: encoder)
  }
}

/// The run's own figures in its report.
public struct RunFigures: Codable, Sendable {
  /// The method's name ("lora", "prompt", …).
  public var method: String
  public var steps: Int
  public var tokens: Int
  public var tokensPerSecond: Double
  public var wallSeconds: Double
  public var trainSeconds: Double
  /// The kernel's peak resident set of the process (VmHWM) at the end of the run.
  public var peakRSSBytes: Int
  public var peakAnonBytes: Int
  public var ledgerPeakBytes: Int
  public var ledgerPeakBytesByLabel: [String: Int]
  public var lossFirst: Double
  public var lossLast: Double
  public var lossCurve: [Double]
  /// The learning rate of each step.
  public var learningRateCurve: [Double]
  /// The kernel's resident set at the end of each step.
  public var rssCurve: [Int]
  /// Tokens per second of each step. Optional: reports written before it was recorded lack it.
  public var tokensPerSecondCurve: [Double]?
  /// Held-out loss at the end and before training (nil without held-out data).
  public var evalLoss: Double?
  public var evalLossBefore: Double?
  /// Held-out loss at each evaluation during training.
  public var evalCurve: [EvalPoint]
  public var trainableParameters: Int
  public var seqLen: Int
  public var batch: Int
  public var gradAccum: Int
  public var lr: Double
  public var model: String
  public var adapter: String
  /// The objective's own figures per step (accuracy, margin, score, KL, …).
  public var metricCurves: [String: [Double]]?
  /// The objective's held-out figures after and before training (preference and RL objectives).
  public var eval: [String: Double]?
  public var evalBefore: [String: Double]?
  /// PPO: per batch, mean score, KL, entropy, answer length, stop rate.
  public var ppoBatches: [[String: Double]]?
  public var pairs: Int?
  public var validationPairs: Int?
  public var prompts: Int?
  public var optimizerState: String
  public var optimizerStateBytes: Int
  public var paging: PagingReport?
  public var streaming: StreamingReport
  /// The run ended before its last step because the caller asked; the result holds the steps done.
  public var stoppedEarly: Bool
  /// The kernel's VmHWM ended above the budget: the result was kept but the promise broken (the CLI exits non-zero).
  public var budgetCrossed: Bool
  /// How plain prompt/completion pairs were rendered ("chat-template" or "raw"); nil in older reports.
  public var pairRendering: PairRendering? = nil

  /// A point of the held-out curve.
  public struct EvalPoint: Codable, Sendable, Equatable {
    public var step: Int
    public var loss: Double
  }

  enum CodingKeys: String, CodingKey {
    case method, steps, tokens, lr, model, adapter, batch, eval, pairs, prompts, paging, streaming
    case tokensPerSecond = "tokens_per_second"
    case wallSeconds = "wall_seconds"
    case trainSeconds = "train_seconds"
    case peakRSSBytes = "peak_rss_bytes"
    case peakAnonBytes = "peak_anon_bytes"
    case ledgerPeakBytes = "ledger_peak_bytes"
    case ledgerPeakBytesByLabel = "ledger_peak_bytes_by_label"
    case lossFirst = "loss_first"
    case lossLast = "loss_last"
    case lossCurve = "loss_curve"
    case learningRateCurve = "lr_curve"
    case rssCurve = "rss_curve"
    case tokensPerSecondCurve = "tokens_per_second_curve"
    case evalLoss = "eval_loss"
    case evalLossBefore = "eval_loss_before"
    case evalCurve = "eval_curve"
    case trainableParameters = "trainable_parameters"
    case seqLen = "seq_len"
    case gradAccum = "grad_accum"
    case metricCurves = "metric_curves"
    case evalBefore = "eval_before"
    case ppoBatches = "ppo_batches"
    case validationPairs = "validation_pairs"
    case optimizerState = "optimizer_state"
    case optimizerStateBytes = "optimizer_state_bytes"
    case stoppedEarly = "stopped_early"
    case budgetCrossed = "budget_crossed"
    case pairRendering = "pair_rendering"
  }
}

/// A plan as `edgetune plan --json` prints it: what fits, what was chosen, and every line.
public struct PlanSummary: Codable, Sendable, Equatable {
  public var budgetBytes: Int?
  public var plannedPeakBytes: Int
  public var fits: Bool
  public var smallestBudgetBytes: Int
  public var choices: [String]
  public var weightsStreamed: Bool
  public var logitRows: Int
  public var gradientCheckpointing: Bool
  public var lines: [PlanLineReport]

  public init(_ planned: TrainingPlan.Result) {
    let plan = planned.plan
    budgetBytes = plan.budget
    plannedPeakBytes = plan.total
    fits = plan.fits
    smallestBudgetBytes = plan.smallestBudget
    choices = plan.choices
    weightsStreamed = planned.residency != .resident
    logitRows = planned.logitRows
    gradientCheckpointing = planned.checkpointing
    lines = plan.lines.map(PlanLineReport.init)
  }

  enum CodingKeys: String, CodingKey {
    case fits, choices, lines
    case budgetBytes = "budget_bytes"
    case plannedPeakBytes = "planned_peak_bytes"
    case smallestBudgetBytes = "smallest_budget_bytes"
    case weightsStreamed = "weights_streamed"
    case logitRows = "logit_rows"
    case gradientCheckpointing = "gradient_checkpointing"
  }
}
