public import Memory
public import Model
public import Tensor

/// The memory plan of a training run (LoRA or a soft prompt), computed from the model's configuration and the run's options before any
/// training buffer exists, and the choices that make it fit a budget.
public enum TrainingPlan {
  /// What the plan depends on besides the model.
  public struct Options: Sendable {
    /// The method: its trainable shapes, its plan line, what the graph must hold.
    public var method: any MethodDefinition
    public var seqLen: Int
    public var logitRows: Int
    /// Per-layer gradient checkpointing (true), every layer's activations kept (false), or nil: the plan chooses
    /// (without checkpointing only when a budget is given and the whole run then fits with every weight resident).
    public var checkpointing: Bool? = true
    /// Bytes of the JSONL sources (tokenized data is held in memory; ~2 bytes per source byte, measured).
    public var dataFileBytes: Int
    public var workers: Int
    /// Tokens of one optimizer step's batches, all held at once (batch × seqLen × gradient accumulation).
    public var stepTokens = 0
    /// Where the optimizer state lives; nil lets the plan choose (RAM, or paged to disk when RAM does not fit).
    public var optimizerState: OptimizerStatePlacement?
    /// The paged placement the plan picks when `optimizerState` is nil and RAM does not fit (spill directory,
    /// compression, resident pages and bits come from it).
    public var pagedPlacement = OptimizerStatePlacement(.disk(directory: OptimizerStatePlacement.defaultSpillDirectory))

    /// Tokens per graph row (a preference pair's row holds both sequences).
    public var rowCapacity: Int { method.graphNeeds.pairRows ? 2 * seqLen : seqLen }

    public init(
      method: any MethodDefinition, seqLen: Int, logitRows: Int = 16, dataFileBytes: Int = 0,
      workers: Int = Threading.workers, optimizerState: OptimizerStatePlacement? = .ram
    ) {
      self.method = method
      self.optimizerState = optimizerState
      self.seqLen = seqLen
      self.logitRows = logitRows
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

  /// Every consumer but the weights: ledger buffers under their labels, then runtime and data.
  public static func fixedLines(model: LanguageModel, weights: WeightPlan, options o: Options) -> [MemoryPlan.Line] {
    let c = model.config
    let needs = o.method.graphNeeds
    let graph = TrainingGraph.plannedBytes(
      config: c, capacity: o.rowCapacity, rank: needs.rank,
      logitRows: o.logitRows, workers: o.workers,
      bottleneck: needs.bottleneck.flatMap { try? $0.size(hidden: c.hiddenSize) } ?? 0,
      scalingVectors: needs.scalingVectors, storesActivations: o.checkpointing == false, dora: needs.dora)
    let dropoutBytes = needs.dropout ? o.rowCapacity * max(c.hiddenSize, c.queryDim, c.intermediateSize) * 4 : 0
    let shapes = o.method.trainableShapes(model: c)
    let counts = shapes.map { $0.shape.reduce(1, *) }
    let parameters = ParameterStore.plannedBytes(shapes: shapes)
    let notes = [
      "checkpoints":
        "one layer input per layer + final state (\(c.layerCount + 1) × \(o.rowCapacity) × \(c.hiddenSize) fp32"
        + (needs.pairRows ? ": a row holds a preference pair)" : ")"),
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
    let (label, note) = o.method.planLine(model: c)
    lines += [
      MemoryPlan.Line(label, parameters, .ledger, note),
      MemoryPlan.Line(label + ".gradients", parameters, .ledger, "one gradient per parameter"),
    ]
    let placement = o.optimizerState ?? .ram
    lines += placement.plannedBytes(tensorCounts: counts).map { MemoryPlan.Line($0.label, $0.bytes, .ledger, $0.note) }
    lines += o.method.extraPlanLines(model: model, seqLen: o.seqLen, workers: o.workers)
    return lines
      + weights.runtimeLines(extra: [
        MemoryPlan.Line("data", 2 * o.dataFileBytes, .runtime, "tokenized examples (~2 B per JSONL byte)"),
        MemoryPlan.Line(
          "batches", batchBytes(tokens: o.stepTokens), .runtime,
          "one step's packed batches, \(o.stepTokens) tokens (ids, targets, segment starts: 12 B each)"),
      ])
  }

  /// Bytes of `tokens` packed tokens (`PackedBatch`: three Int32 per token), at most 1 PiB: more than any machine
  /// has, so an absurd batch reads as a plan that cannot fit, and small enough that the plan's sums and headroom
  /// stay far from overflowing.
  static func batchBytes(tokens: Int) -> Int {
    let (bytes, overflow) = tokens.multipliedReportingOverflow(by: 3 * MemoryLayout<Int32>.stride)
    return overflow ? 1 << 50 : min(bytes, 1 << 50)
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
    let counts = options.method.trainableShapes(model: model.config).map { $0.shape.reduce(1, *) }
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
