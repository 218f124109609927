import ArgumentParser
import Memory
import Model
import Training

/// The options every training method shares (model, data, schedule, budget, optimizer state, checkpoints), used by
/// `train lora`, `train prompt`, `plan` and `profile`.
struct TrainingOptions: ParsableArguments {
  @OptionGroup var model: ModelOptions
  @OptionGroup var threads: ThreadOptions
  @OptionGroup var budget: BudgetOptions
  @OptionGroup var optimizer: OptimizerStateOptions

  @Option(help: "Training data, JSONL; repeat for several sources, each FILE[:weight] (sampled by weight).")
  var data: [String] = []

  @Option(help: "Optimizer steps.")
  var steps: Int?

  @Option(help: "Epochs over the training tokens (instead of --steps).")
  var epochs: Double?

  @Option(help: "Tokens per sequence row.")
  var seqLen: Int = 256

  @Option(help: "Rows per batch.")
  var batch: Int = 1

  @Option(help: "Batches per optimizer step.")
  var gradAccum: Int = 1

  @Option(help: "Peak learning rate (default: 2e-4 for LoRA, 3e-2 for soft prompts, as PEFT's examples use).")
  var lr: Double?

  @Option(help: "Learning-rate schedule: cosine, linear or constant.")
  var schedule: String = "cosine"

  @Option(help: "Warm-up steps.")
  var warmup: Int = 0

  @Option(help: "AdamW weight decay.")
  var weightDecay: Double = 0

  @Option(help: "Clip the gradient's global L2 norm to this; 0 turns clipping off (as Hugging Face's Trainer).")
  var maxGradNorm: Double = 1

  @Option(help: "Random seed (adapter initialization, data order).")
  var seed: UInt64 = 0

  @Option(help: "Held-out JSONL for evaluation (default: a split of the first --data source).")
  var val: String?

  @Option(help: "Fraction of the first source held out when --val is not given (0 for none).")
  var valFraction: Double = 0.05

  @Option(help: "Evaluate every N steps (0: only at the end).")
  var evalEvery: Int = 0

  @Option(help: "Checkpoint every N steps (0: none).")
  var saveEvery: Int = 0

  @Option(
    help: ArgumentHelp(
      "With --budget: the share of the budget at which the run relieves memory, then stops with a checkpoint.",
      discussion: "Default 0.97. Lower it for more safety margin on a machine that other processes share.",
      valueName: "fraction"))
  var stopAt: Double = 0.97

  @Option(
    help: ArgumentHelp(
      "Gradient checkpointing: on (each layer's activations recomputed in backward), off (all kept: faster, more "
        + "memory) or auto.",
      discussion:
        "auto: off when --budget is given and the whole run fits without it (weights resident, optimizer state in "
        + "RAM), else on. Without a budget auto is on, the memory-frugal choice. SmolLM2-135M at seq 256 keeps "
        + "~230 MiB more without it.",
      valueName: "auto|on|off"))
  var gradientCheckpointing: String = "auto"

  /// --gradient-checkpointing as the plan's option: nil lets the plan choose.
  var checkpointingChoice: Bool? {
    switch gradientCheckpointing {
    case "on": true
    case "off": false
    default: nil
    }
  }

  @Option(help: "Continue from a checkpoint directory (OUT.checkpoints/checkpoint-N).")
  var resume: String?

  @Flag(help: "Compute the loss on prompts and template headers too.")
  var trainOnPrompt = false

  @Flag(
    help: """
      Train plain {"prompt", "completion"} pairs as raw text, prompt + completion (TRL's convention), instead of \
      through the model's chat template as a user and an assistant turn (the default for a model with a template).
      """)
  var rawPairs = false

  @Flag(help: "Skip malformed JSONL lines (counted) instead of stopping at the first.")
  var skipBadLines = false

  func validate() throws {
    guard steps == nil || epochs == nil else { throw ValidationError("give only one of --steps and --epochs") }
    if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
    if let epochs, !(epochs > 0 && epochs.isFinite) {
      throw ValidationError("--epochs must be a positive number, got \(epochs)")
    }
    guard seqLen >= 8 else { throw ValidationError("--seq-len must be at least 8, got \(seqLen)") }
    guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
    guard gradAccum >= 1 else { throw ValidationError("--grad-accum must be at least 1, got \(gradAccum)") }
    if let lr { guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive, got \(lr)") } }
    for (flag, value) in [("--warmup", warmup), ("--eval-every", evalEvery), ("--save-every", saveEvery)] {
      guard value >= 0 else { throw ValidationError("\(flag) must be 0 or more, got \(value)") }
    }
    guard LearningRateSchedule.Kind(rawValue: schedule) != nil else {
      throw ValidationError("--schedule must be cosine, linear or constant")
    }
    guard maxGradNorm >= 0, maxGradNorm.isFinite else {
      throw ValidationError("--max-grad-norm must be 0 (no clipping) or a positive number, not \(maxGradNorm)")
    }
    guard weightDecay >= 0, weightDecay.isFinite else {
      throw ValidationError("--weight-decay must be 0 or a positive number, not \(weightDecay)")
    }
    guard valFraction >= 0, valFraction < 1 else {
      throw ValidationError("--val-fraction must be in [0, 1), got \(valFraction)")
    }
    guard stopAt > 0, stopAt <= 1 else { throw ValidationError("--stop-at must be in (0, 1], got \(stopAt)") }
    guard ["auto", "on", "off"].contains(gradientCheckpointing) else {
      throw ValidationError("--gradient-checkpointing must be auto, on or off, not '\(gradientCheckpointing)'")
    }
  }

  /// The library's configuration of a run of `method` writing to `output`: every flag mapped onto it.
  func configuration(method: FineTuneMethod, output: String) throws -> FineTuneConfiguration {
    var c = FineTuneConfiguration(model: model.model, method: method, output: output)
    c.data = try data.map { try DataSourceSpec.parse($0) }
    c.validation = val
    c.validationFraction = valFraction
    c.steps = steps
    c.epochs = epochs
    c.seqLen = seqLen
    c.batch = batch
    c.gradientAccumulation = gradAccum
    c.learningRate = lr
    c.schedule = LearningRateSchedule.Kind(rawValue: schedule) ?? .cosine
    c.warmupSteps = warmup
    c.weightDecay = weightDecay
    c.maxGradientNorm = maxGradNorm
    c.seed = seed
    c.evalEvery = evalEvery
    c.saveEvery = saveEvery
    c.trainOnPrompt = trainOnPrompt
    c.rawPairs = rawPairs
    c.skipBadLines = skipBadLines
    c.resume = resume
    c.budget = budget.bytes
    c.stopAtFraction = stopAt
    c.gradientCheckpointing = checkpointingChoice
    let (placement, notice) = try optimizer.placement()
    if let notice { Output.diagnostic("notice: \(notice)") }
    c.optimizerState = placement
    c.pagedPlacement = optimizer.pagedPlacement
    c.workers = threads.threads
    c.untrackedAllocationBytes = budget.untrackedAllocationBytes
    return c
  }
}

/// LoRA's own options.
struct LoRAOptions: ParsableArguments {
  @Option(help: "LoRA rank.")
  var rank: Int = 8

  @Option(help: "LoRA alpha (scale alpha/rank, or alpha/sqrt(rank) with --rslora).")
  var alpha: Double = 16

  @Option(help: "LoRA dropout on the input of A (PEFT's lora_dropout).")
  var dropout: Double = 0

  @Flag(help: "rsLoRA scaling: alpha / sqrt(rank).")
  var rslora = false

  @Flag(
    name: .customLong("use-dora"),
    help: "DoRA: also train a magnitude per output row over the normalized W + B·A (PEFT's use_dora).")
  var useDoRA = false

  @Option(help: "Projections to adapt, comma-separated: q,k,v,o,gate,up,down.")
  var targets: String = "q,v"

  /// The projections named by --targets.
  func targetList() throws -> [ProjectionTarget] {
    try LoRAConfig.targets(named: targets.split(separator: ",").map(String.init))
  }

  /// The LoRA configuration these options describe.
  func config(seed: UInt64) throws -> LoRAConfig {
    try LoRAConfig(
      rank: rank, alpha: alpha, dropout: dropout, targets: try targetList(), useRSLoRA: rslora, useDoRA: useDoRA,
      seed: seed)
  }
}

/// The options of a LoRA run, shared by `train lora`, `plan` and `profile` (so a plan or a profile describes exactly
/// the run it names). Members of both groups read as its own (`options.seqLen`, `options.rank`).
@dynamicMemberLookup
struct LoRARunOptions: ParsableArguments {
  @OptionGroup var training: TrainingOptions
  @OptionGroup var lora: LoRAOptions

  subscript<T>(dynamicMember path: KeyPath<TrainingOptions, T>) -> T { training[keyPath: path] }
  subscript<T>(dynamicMember path: KeyPath<LoRAOptions, T>) -> T { lora[keyPath: path] }

  func targetList() throws -> [ProjectionTarget] { try lora.targetList() }
}

/// The options of a run of any method, for `plan` and `profile`: `--method` picks it and that method's options
/// apply (the same names as in its `train` verb). Training options read as its own (`options.seqLen`).
@dynamicMemberLookup
struct AnyMethodRunOptions: ParsableArguments {
  @OptionGroup var training: TrainingOptions

  @Option(
    help:
      "The method: lora, prompt, adapter, ia3, selective, reward, dpo or ppo (its options below, as in `train <method>`)."
  )
  var method: String = "lora"

  @OptionGroup(title: "LoRA") var lora: LoRAOptions
  @OptionGroup(title: "Soft prompt") var prompt: PromptOptions
  @OptionGroup(title: "Bottleneck adapters") var adapter: BottleneckOptions
  @OptionGroup(title: "DPO") var preference: DPOOptions

  @Option(help: "Reward model: margin in the ranking loss −log σ(r_c − r_r − margin).")
  var margin: Double = 0
  @OptionGroup(title: "PPO") var ppo: PPOCommandOptions

  static let methods = ["lora", "prompt", "adapter", "ia3", "selective", "reward", "dpo", "ppo"]

  @Option(help: "Selective: which tensors train (norms, head, or last-layers:K).")
  var tensors: String = "norms"

  subscript<T>(dynamicMember path: KeyPath<TrainingOptions, T>) -> T { training[keyPath: path] }

  func validate() throws {
    guard Self.methods.contains(method) else {
      throw ValidationError("--method must be one of \(Self.methods.joined(separator: ", ")), not '\(method)'")
    }
    _ = try TrainSelective.tensors(tensors)
  }

  /// The chosen method with its options.
  func fineTuneMethod() throws -> FineTuneMethod {
    let seed = training.seed
    switch method {
    case "prompt": return try prompt.method(seed: seed)
    case "adapter": return try adapter.method(seed: seed)
    case "ia3": return .ia3(seed: seed)
    case "selective": return .selective(try TrainSelective.tensors(tensors))
    case "reward": return try rewardMethod(lora, margin: margin, seed: seed)
    case "dpo": return try preference.method(lora, seed: seed)
    case "ppo": return try ppo.method(lora, training: training)
    default: return try lora.method(seed: seed)
    }
  }
}
