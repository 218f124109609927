import Formats
import Memory
import Model
import Tensor

/// Everything a fine-tuning run needs to know, as a plain value a Swift program fills in (the CLI maps its flags onto
/// it). Defaults are the CLI's. Parameter names in errors are these properties' names.
public struct FineTuneConfiguration: Sendable {
  /// The base model: a GGUF file, an NF4 file, a .safetensors file or a Hugging Face directory.
  public var model: String
  /// What trains, on which objective.
  public var method: FineTuneMethod
  /// Where the result goes (a directory); checkpoints go to `output` + ".checkpoints".
  public var output: String
  /// Training data, JSONL, mixed by weight (preference methods take one source; PPO samples its own).
  public var data: [DataSourceSpec] = []
  /// Held-out JSONL; nil: `validationFraction` of the first source is split off.
  public var validation: String?
  public var validationFraction = 0.05
  /// Optimizer steps (PPO: batches of rollouts); nil with `epochs` nil: `defaultSteps`.
  public var steps: Int?
  /// Passes over the training tokens (or pairs, or prompts), instead of `steps`.
  public var epochs: Double?
  public var defaultSteps = 100
  public var seqLen = 256
  public var batch = 1
  public var gradientAccumulation = 1
  /// Peak learning rate; nil: the method's default.
  public var learningRate: Double?
  public var schedule = LearningRateSchedule.Kind.cosine
  public var warmupSteps = 0
  public var weightDecay = 0.0
  public var maxGradientNorm = 1.0
  /// Seeds data order and the validation split (the method's configuration has its own initialization seed).
  public var seed: UInt64 = 0
  /// Evaluate every N steps (0: at the end only).
  public var evalEvery = 0
  /// Checkpoint every N steps (0: none).
  public var saveEvery = 0
  public var trainOnPrompt = false
  /// Plain prompt/completion pairs as raw text instead of through the chat template (`DataOptions.rawPairs`).
  public var rawPairs = false
  public var skipBadLines = false
  /// Continue from a checkpoint directory.
  public var resume: String?
  /// The process's peak resident set (VmHWM) may not exceed this; nil: no budget.
  public var budget: Int?
  /// With a budget: the share of it at which the run relieves memory, then stops with a checkpoint.
  public var stopAtFraction = 0.97
  /// Per-layer gradient checkpointing: true, false, or nil to let the plan choose.
  public var gradientCheckpointing: Bool?
  /// Where AdamW's moments live; nil lets the plan choose between RAM and `pagedPlacement`.
  public var optimizerState: OptimizerStatePlacement?
  /// The paged placement the plan picks when `optimizerState` is nil and RAM does not fit.
  public var pagedPlacement = OptimizerStatePlacement(.disk(directory: OptimizerStatePlacement.defaultSpillDirectory))
  /// Worker threads (the plan sizes per-worker scratch by it).
  public var workers = Threading.workers
  /// How often the memory watchdog samples the kernel's counts.
  public var watchdogInterval = Duration.milliseconds(100)
  /// Keep every watchdog sample (profiles draw them).
  public var keepSamples = false
  /// Test hook: after the last step, touch this many bytes of memory the plan and the watchdog do not know about and
  /// free them at once (shows that the final VmHWM check catches what the watchdog cannot stop). 0: off.
  public var untrackedAllocationBytes = 0

  public init(model: String, method: FineTuneMethod, output: String) {
    self.model = model
    self.method = method
    self.output = output
  }

  /// Where checkpoints go: beside the output, named after it.
  public var checkpointDirectory: String {
    (output.hasSuffix("/") ? String(output.dropLast()) : output) + ".checkpoints"
  }

  /// Checks the values that need no model; names the offending parameter.
  public func validate() throws(TrainingError) {
    let check = TrainingError.require
    try check(steps == nil || epochs == nil, "steps", "give only one of steps and epochs")
    if let steps { try check(steps >= 1, "steps", "must be at least 1, not \(steps)") }
    if let epochs { try check(epochs > 0 && epochs.isFinite, "epochs", "must be positive, not \(epochs)") }
    try check(seqLen >= 8, "seqLen", "must be at least 8, not \(seqLen)")
    try check(batch >= 1, "batch", "must be at least 1, not \(batch)")
    try check(gradientAccumulation >= 1, "gradAccum", "must be at least 1, not \(gradientAccumulation)")
    try check(
      tokensPerStep != nil, "batch",
      "\(batch) rows of seqLen \(seqLen) tokens, gradAccum \(gradientAccumulation) times, are more tokens per step "
        + "than can be counted; lower them")
    for (name, value) in [("warmupSteps", warmupSteps), ("evalEvery", evalEvery), ("saveEvery", saveEvery)] {
      try check(value >= 0, name, "must be 0 or more, not \(value)")
    }
    if let learningRate {
      try check(learningRate > 0 && learningRate.isFinite, "lr", "must be positive, not \(learningRate)")
    }
    try check(
      validationFraction >= 0 && validationFraction < 1, "valFraction", "must be in [0, 1), not \(validationFraction)")
    try check(stopAtFraction > 0 && stopAtFraction <= 1, "stopAt", "must be in (0, 1], not \(stopAtFraction)")
    if let budget { try check(budget > 0, "budget", "must be positive") }
  }

  /// Tokens one optimizer step reads (batch × seqLen × gradientAccumulation); nil when the product overflows.
  public var tokensPerStep: Int? {
    let (row, rowOverflow) = batch.multipliedReportingOverflow(by: seqLen)
    let (step, stepOverflow) = row.multipliedReportingOverflow(by: gradientAccumulation)
    return rowOverflow || stepOverflow ? nil : step
  }

  /// The plan's options for this configuration (the data files' sizes are read from disk).
  public func planOptions() -> TrainingPlan.Options {
    var bytes = 0
    for path in data.map(\.path) + (validation.map { [$0] } ?? []) { bytes += fileSize(atPath: path) }
    var options = TrainingPlan.Options(
      method: method.definition, seqLen: seqLen, dataFileBytes: bytes, workers: workers,
      optimizerState: optimizerState)
    options.pagedPlacement = pagedPlacement
    options.checkpointing = gradientCheckpointing
    options.stepTokens = tokensPerStep ?? Int.max
    return options
  }
}
