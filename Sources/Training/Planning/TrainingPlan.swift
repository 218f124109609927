public import Memory
public import Model
public import Tensor

/// The memory plan of a training run (LoRA or a soft prompt), computed from the model's configuration and the run's options before any
/// training buffer exists, and the choices that make it fit a budget.
public enum TrainingPlan {
  /// What the plan depends on besides the model.
  public struct Options: Sendable {
    public var seqLen: Int
    public var rank: Int
    public var targets: [ProjectionTarget]
    public var logitRows: Int
    public var dropout: Bool
    /// Per-layer gradient checkpointing (true), every layer's activations kept (false), or nil: the plan chooses
    /// (without checkpointing only when a budget is given and the whole run then fits with every weight resident).
    public var checkpointing: Bool? = true
    /// Bytes of the JSONL sources (tokenized data is held in memory; ~2 bytes per source byte, measured).
    public var dataFileBytes: Int
    public var workers: Int
    /// Where the optimizer state lives; nil lets the plan choose (RAM, or paged to disk when RAM does not fit).
    public var optimizerState: OptimizerStatePlacement?
    /// The paged placement the plan picks when `optimizerState` is nil and RAM does not fit (spill directory,
    /// compression, resident pages and bits come from it).
    public var pagedPlacement = OptimizerStatePlacement(.disk(directory: OptimizerStatePlacement.defaultSpillDirectory))
    /// Soft-prompt length: above 0 the method is prompt tuning, and `rank` and `targets` are not used.
    public var virtualTokens = 0
    /// Bottleneck adapters: when set the method is adapter tuning (`rank` and `targets` are not used).
    public var bottleneck: BottleneckConfig?
    /// IA3: when true the method is IA3 (`rank` and `targets` are not used).
    public var ia3 = false
    /// Selective tuning of the norm weights (`rank` and `targets` are not used).
    public var selectiveNorms = false
    /// Selective tuning of the last N layers' matrices and norms (0: not this method).
    public var selectiveLayers = 0
    /// Selective tuning of the output head alone.
    public var selectiveHead = false
    /// Preference training: a row holds a pair (chosen and rejected, each up to `seqLen`), so the graph's rows are
    /// twice as long.
    public var pairRows = false
    /// A reward model's score head beside LoRA (hidden floats).
    public var scoreHead = false
    /// PPO's value head beside LoRA (hidden + 1 floats).
    public var valueHead = false
    /// PPO: the rollout session (KV cache for `seqLen` tokens and its buffers) and the reward model's LoRA (rank,
    /// targets) and score head, all on the same base.
    public var rollout: (rewardRank: Int, rewardTargets: [ProjectionTarget])?

    /// Tokens per graph row.
    public var rowCapacity: Int { pairRows ? 2 * seqLen : seqLen }

    /// Whether the method is LoRA (none of the others is chosen).
    public var isLoRA: Bool {
      virtualTokens == 0 && bottleneck == nil && !ia3 && !selectiveNorms && selectiveLayers == 0
    }
    public init(
      seqLen: Int, rank: Int, targets: [ProjectionTarget], logitRows: Int = 16, dropout: Bool = false,
      dataFileBytes: Int = 0, workers: Int = Threading.workers, optimizerState: OptimizerStatePlacement? = .ram
    ) {
      self.optimizerState = optimizerState
      self.seqLen = seqLen
      self.rank = rank
      self.targets = targets
      self.logitRows = logitRows
      self.dropout = dropout
      self.dataFileBytes = dataFileBytes
      self.workers = workers
    }
  }

  /// The plan, and the residency policy and logit rows chosen for `budget` (the caller applies them).
  public struct Result: Sendable {
    public var plan: MemoryPlan
    public var residency: WeightResidency.Policy
    public var logitRows: Int
    public var optimizerState: OptimizerStatePlacement
    public var checkpointing: Bool
  }

  /// The trainable tensors of the run's method (name, shape), as its `ParameterStore` will hold them.
  public static func trainableShapes(config c: ModelConfig, options o: Options) -> [(name: String, shape: [Int])] {
    if o.ia3 { return IA3Set.tensorShapes(model: c) }
    if o.selectiveNorms { return SelectiveNorms.tensorShapes(model: c) }
    if o.selectiveHead { return SelectiveHead.tensorShapes(model: c) }
    if o.selectiveLayers > 0 {
      return SelectiveLayers.tensorShapes(model: c, count: min(o.selectiveLayers, c.layerCount))
    }
    if let bottleneck = o.bottleneck {
      return (try? BottleneckAdapterSet.plannedShapes(config: bottleneck, model: c)) ?? []
    }
    return o.virtualTokens > 0
      ? [(SoftPrompt.tensorName, [o.virtualTokens, c.hiddenSize])]
      : LoRAAdapterSet.tensorShapes(rank: o.rank, targets: o.targets, model: c)
        + (o.scoreHead ? LoRAHeads.score(hidden: c.hiddenSize).tensors.map { ($0.name, $0.shape) } : [])
        + (o.valueHead ? LoRAHeads.value(hidden: c.hiddenSize).tensors.map { ($0.name, $0.shape) } : [])
  }

  /// The ledger label of the method's parameters and the plan's note on them.
  static func methodLine(_ o: Options, _ c: ModelConfig) -> (label: String, note: String) {
    if o.selectiveNorms { return ("selective", "fp32 copies of every norm weight") }
    if o.selectiveHead {
      return ("selective", "an fp32 copy of the output head (\(c.vocabularySize) × \(c.hiddenSize)), untied")
    }
    if o.selectiveLayers > 0 {
      return ("selective", "fp32 copies of the last \(o.selectiveLayers) layers' matrices and norms")
    }
    if o.ia3 { return ("ia3", "IA3 vectors on k, v and down_proj's input") }
    if let b = o.bottleneck {
      return ("adapter", "\(b.architecture.rawValue) bottleneck adapters, reduction \(b.reductionFactor)")
    }
    if o.virtualTokens > 0 { return ("prompt", "\(o.virtualTokens) virtual-token embeddings of \(c.hiddenSize)") }
    return ("lora", "A and B, r=\(o.rank) on \(o.targets.map(\.moduleName).joined(separator: ","))")
  }

  /// Every consumer but the weights: ledger buffers under their labels, then runtime and data.
  public static func fixedLines(model: LanguageModel, weights: WeightPlan, options o: Options) -> [MemoryPlan.Line] {
    let c = model.config
    let graph = TrainingGraph.plannedBytes(
      config: c, capacity: o.rowCapacity, rank: o.isLoRA ? o.rank : 1,
      logitRows: o.logitRows, workers: o.workers,
      bottleneck: o.bottleneck.flatMap { try? $0.size(hidden: c.hiddenSize) } ?? 0, scalingVectors: o.ia3,
      storesActivations: o.checkpointing == false)
    let dropoutBytes = o.dropout ? o.rowCapacity * max(c.hiddenSize, c.queryDim, c.intermediateSize) * 4 : 0
    let shapes = trainableShapes(config: c, options: o)
    let counts = shapes.map { $0.shape.reduce(1, *) }
    let align = ParameterStore.alignment
    let parameters = counts.reduce(0) { $0 + ($1 + align - 1) / align * align } * 4
    let notes = [
      "checkpoints":
        "one layer input per layer + final state (\(c.layerCount + 1) × \(o.rowCapacity) × \(c.hiddenSize) fp32"
        + (o.pairRows ? ": a row holds a preference pair)" : ")"),
      "activations": o.checkpointing == false
        ? "every layer's activations, kept from the forward (no checkpointing)"
        : "one layer's activations, recomputed in backward",
      "gradients": "one layer's activation gradients",
      "scratch": "attention scores, per-worker partial sums and decode tiles (\(o.workers) workers)",
      "logits": "\(o.logitRows) position\(o.logitRows == 1 ? "" : "s") × \(c.vocabularySize) vocabulary at a time",
    ]
    var buffers = graph
    buffers["activations", default: 0] += dropoutBytes  // the dropout mask is reserved under "activations"
    var lines = MemoryPlan.Line.ledger(
      buffers, order: ["checkpoints", "activations", "gradients", "scratch", "logits"], notes: notes)
    let (label, note) = methodLine(o, c)
    lines += [
      MemoryPlan.Line(label, parameters, .ledger, note),
      MemoryPlan.Line(label + ".gradients", parameters, .ledger, "one gradient per parameter"),
    ]
    let placement = o.optimizerState ?? .ram
    lines += placement.plannedBytes(tensorCounts: counts).map { MemoryPlan.Line($0.label, $0.bytes, .ledger, $0.note) }
    if let rollout = o.rollout {
      let session = InferenceSession.plannedBytes(config: c, capacity: o.seqLen, chunk: 128, workers: o.workers)
      lines.append(
        MemoryPlan.Line(
          "kv-cache", session["kv-cache", default: 0], .ledger,
          "rollouts: keys and values of \(o.seqLen) tokens × \(c.layerCount) layers"))
      lines.append(
        MemoryPlan.Line(
          "rollout", session.filter { $0.key != "kv-cache" }.values.reduce(0, +), .ledger,
          "rollouts: one 128-token chunk's activations, scores and logits"))
      let reward =
        LoRAAdapterSet.tensorShapes(rank: rollout.rewardRank, targets: rollout.rewardTargets, model: c)
        + LoRAHeads.score(hidden: c.hiddenSize).tensors.map { ($0.name, $0.shape) }
      let rewardBytes = reward.reduce(0) { $0 + ($1.shape.reduce(1, *) + align - 1) / align * align } * 4
      lines.append(
        MemoryPlan.Line(
          "reward-model", 2 * rewardBytes, .ledger,
          "the reward model's LoRA r=\(rollout.rewardRank) and score head (values and gradients), on the same base"))
    }
    return lines
      + weights.runtimeLines(extra: [
        MemoryPlan.Line("data", 2 * o.dataFileBytes, .runtime, "tokenized examples (~2 B per JSONL byte)")
      ])
  }

  /// Plans the run and, with a budget, chooses: optimizer state paged to disk when its placement is left to the plan
  /// (the cheapest saving: I/O overlaps compute), then weight residency (all resident, or streamed with as many
  /// resident layers as fit) and, if still short, fewer logit rows. When checkpointing is left to the plan, the
  /// run goes without it (a third less compute) if a budget is given and everything then fits with every weight
  /// resident and the optimizer state in RAM; otherwise with it, before any other saving.
  public static func make(model: LanguageModel, options: Options, budget: Int?) -> Result {
    let weights = WeightPlan(model: model, workers: options.workers)
    var chosen = options
    chosen.optimizerState = options.optimizerState ?? OptimizerStatePlacement(.ram, bits: options.pagedPlacement.bits)
    chosen.checkpointing = options.checkpointing ?? true
    var choices = [
      options.checkpointing == false
        ? "no gradient checkpointing: every layer's activations kept"
        : "gradient checkpointing per layer" + (options.checkpointing == nil ? "" : " (asked for)")
    ]
    if options.checkpointing == nil, let budget {
      var without = chosen
      without.checkpointing = false
      let fixed = fixedLines(model: model, weights: weights, options: without)
      let (plan, policy) = MemoryPlan.fitting(fixed: fixed, weights: weights, budget: budget)
      if plan.fits && policy == .resident {
        chosen.checkpointing = false
        choices = [
          "no gradient checkpointing: every layer's activations kept (they fit in \(ByteCount.format(budget)))"
        ]
      } else {
        choices = [
          "gradient checkpointing per layer (without it the run needs "
            + "\(ByteCount.format(MemoryPlan.fitting(fixed: fixed, weights: weights, budget: nil).plan.total)))"
        ]
      }
    }
    var (plan, policy) = MemoryPlan.fitting(
      fixed: fixedLines(model: model, weights: weights, options: chosen), weights: weights, budget: budget,
      choices: choices)
    let paged = options.pagedPlacement
    let counts = trainableShapes(config: model.config, options: options).map { $0.shape.reduce(1, *) }
    let inRAM = OptimizerStatePlacement(.ram, bits: paged.bits).plannedBytes(tensorCounts: counts)
    let pagingSaves =
      paged.plannedBytes(tensorCounts: counts).reduce(0) { $0 + $1.bytes } < inRAM.reduce(0) { $0 + $1.bytes }
    if !plan.fits && options.optimizerState == nil && pagingSaves {
      chosen.optimizerState = paged
      choices.append(
        "optimizer state paged to \(paged.compression == .lz4 ? "an LZ4-compressed" : "a") spill file in "
          + "\(paged.directory ?? "?") (\(ByteCount.format(paged.residentBytes)) resident)")
      (plan, policy) = MemoryPlan.fitting(
        fixed: fixedLines(model: model, weights: weights, options: chosen), weights: weights, budget: budget,
        choices: choices)
    }
    // Fewer logit rows: 4 costs little speed; 1 (a vector-matrix product per targeted position) only as the last
    // resort, for budgets at the floor.
    for rows in [4, 1] where !plan.fits && chosen.logitRows > rows {
      chosen.logitRows = rows
      choices.removeAll { $0.hasPrefix("logits ") }
      choices.append("logits \(rows) position\(rows == 1 ? "" : "s") at a time (instead of \(options.logitRows))")
      (plan, policy) = MemoryPlan.fitting(
        fixed: fixedLines(model: model, weights: weights, options: chosen), weights: weights, budget: budget,
        choices: choices)
    }
    // The smallest budget for these options is the leanest configuration's: streamed weights and 1 logit row.
    var leanest = chosen
    leanest.checkpointing = options.checkpointing ?? true
    leanest.logitRows = 1
    if options.optimizerState == nil && pagingSaves {
      var lean = paged
      lean.residentBytes = 0  // the minimum: three pages resident
      leanest.optimizerState = lean
    }
    plan.leanestBudget =
      MemoryPlan.fitting(
        fixed: fixedLines(model: model, weights: weights, options: leanest), weights: weights, budget: nil
      ).plan.leanestBudget
    return Result(
      plan: plan, residency: policy, logitRows: chosen.logitRows, optimizerState: chosen.optimizerState!,
      checkpointing: chosen.checkpointing!)
  }
}
