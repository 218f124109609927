public import Memory
public import Model
import Tensor

/// The forward and backward pass of a frozen Llama-family model with trainable LoRA parts, for one sequence row of up
/// to `capacity` tokens at a time. With per-layer gradient checkpointing (the default) only each layer's input is
/// kept, and backward recomputes one layer's activations from it before differentiating that layer; without it
/// (`storesActivations`) every layer keeps its own activations from the forward, trading memory for a third less
/// compute. Frozen matrices are decoded tile by
/// tile in both directions and get no weight gradient; the loss head works on `logitRows` positions at a time, so the
/// (tokens × vocabulary) logits are never held whole.
/// Shapes: d hidden, q heads·headDim, kv kvHeads·headDim, f intermediate, T tokens, V vocabulary, r LoRA rank.
/// ref: karpathy/llm.c train_gpt2.c (forward/backward pairs); Chen et al. 2016 (checkpointing); Hu et al. 2021 (LoRA).
public final class TrainingGraph {
  public let model: LanguageModel
  public let capacity: Int
  public let logitRows: Int
  let workers: Int
  let maximumRank: Int
  let tiles: DecodeTiles
  /// Every layer keeps its activations (no recompute in backward); false: one layer's set, recomputed.
  public let storesActivations: Bool
  /// How many layers' activation sets the per-layer buffers hold (1, or every layer).
  let activationSets: Int
  let checkpoints: AnonymousBuffer<Float>  // (layers + 1, T, d): each layer's input, then the final hidden state
  // Per-layer activations: (activationSets, …) each; `activations(layer)` gives one layer's set.
  let normed1: AnonymousBuffer<Float>  // (T, d)
  let query: AnonymousBuffer<Float>  // (T, q) rotated
  let keys: AnonymousBuffer<Float>  // (T, kv) rotated
  let values: AnonymousBuffer<Float>  // (T, kv)
  let attention: AnonymousBuffer<Float>  // (T, q)
  let middle: AnonymousBuffer<Float>  // (T, d) residual after attention
  let normed2: AnonymousBuffer<Float>  // (T, d)
  let gate: AnonymousBuffer<Float>  // (T, f) pre-activation
  let up: AnonymousBuffer<Float>  // (T, f)
  let activated: AnonymousBuffer<Float>  // (T, f) silu(gate)·up
  let loraHidden: AnonymousBuffer<Float>  // (7, T, r)
  let projected: AnonymousBuffer<Float>  // (T, d) o_proj / down_proj outputs (forward only, one set)
  let finalNormedStore: AnonymousBuffer<Float>  // (T, d) when storesActivations, else empty (normed1 serves)
  let gradResidual: AnonymousBuffer<Float>  // (T, d)
  let gradNormed: AnonymousBuffer<Float>  // (T, d)
  let gradQuery: AnonymousBuffer<Float>  // (T, q)
  let gradKeys: AnonymousBuffer<Float>  // (T, kv)
  let gradValues: AnonymousBuffer<Float>  // (T, kv)
  let gradAttention: AnonymousBuffer<Float>  // (T, q)
  let gradGate: AnonymousBuffer<Float>  // (T, f)
  let gradUp: AnonymousBuffer<Float>  // (T, f)
  let attentionScratch: AnonymousBuffer<Float>  // (workers, 2·T·T)
  let partials: AnonymousBuffer<Float>  // (workers, T, max(d, q, f))
  let rotaryCos: AnonymousBuffer<Float>  // (T, rot/2)
  let rotarySin: AnonymousBuffer<Float>  // (T, rot/2)
  let logits: AnonymousBuffer<Float>  // (logitRows, V)
  let gatheredHidden: AnonymousBuffer<Float>  // (logitRows, d) normed final states of targeted positions
  let gatheredGradient: AnonymousBuffer<Float>  // (logitRows, d)
  let rotary: RotaryEmbedding
  /// LoRA dropout probability on the input of A (PEFT's lora_dropout); 0 turns it off.
  public let dropout: Float
  let dropoutMask: AnonymousBuffer<Float>  // (T, max(d, q, f)) when dropout > 0
  /// The seed of the row being processed; the same masks are regenerated in forward, recompute and backward.
  var rowDropoutSeed: UInt64?
  /// The method whose hooks the row being processed uses beyond LoRA and virtual tokens (bottleneck adapters, IA3
  /// vectors, trainable norms); set for one pass by `accumulateGradients(_:method:)` and `loss(_:method:)`.
  var rowMethod: (any TrainableMethod)?
  var rowBottlenecks: (any BottleneckProvider)? { rowMethod?.bottlenecks }
  var rowScalings: (any ScalingVectorProvider)? { rowMethod?.scalings }
  var rowNorms: (any NormOverrideProvider)? { rowMethod?.norms }
  var rowMatrices: (any MatrixOverrideProvider)? { rowMethod?.matrices }
  let maximumBottleneck: Int
  let adapterInputs: AnonymousBuffer<Float>  // (2, T, d): each placement's adapter input (the sublayer output)
  let adapterPre: AnonymousBuffer<Float>  // (2, T, r) pre-activation
  let adapterActivated: AnonymousBuffer<Float>  // (2, T, r)
  let gradAdapter: AnonymousBuffer<Float>  // (T, d): d(loss)/d(adapter input)
  let hasScalings: Bool
  let unscaledKeys: AnonymousBuffer<Float>  // (T, kv) keys before IA3's scaling (after bias, before rotary)
  let unscaledValues: AnonymousBuffer<Float>  // (T, kv)
  let unscaledActivated: AnonymousBuffer<Float>  // (T, f) down_proj's input before scaling
  /// Room for DoRA (LoRA pairs with a magnitude): per layer set, each projection's saved `DoRABuffers` output and
  /// norms ((T + r + 1) × out, projections in canonical order); shared, the stacked input and the scaled gradient.
  let hasDoRA: Bool
  let doraSaved: AnonymousBuffer<Float>  // (Σ_targets (T + r + 1) · out) per set
  let doraInput: AnonymousBuffer<Float>  // (T + r, max(d, q, f))
  let doraGradient: AnonymousBuffer<Float>  // (T + r, max(d, q, f))

  /// Bytes the graph reserves, by ledger label, computed without allocating (for plans).
  public static func plannedBytes(
    config c: ModelConfig, capacity T: Int, rank: Int, logitRows: Int, workers: Int, bottleneck: Int = 0,
    scalingVectors: Bool = false, storesActivations: Bool = false, dora: Bool = false
  ) -> [String: Int] {
    let f4 = MemoryLayout<Float>.stride
    let d = c.hiddenSize
    let q = c.queryDim
    let kv = c.kvDim
    let f = c.intermediateSize
    let widest = max(d, q, f)
    let perLayer =
      T * (3 * d + 2 * q + 2 * kv + 3 * f + 7 * max(1, rank))
      + (bottleneck > 0 ? 2 * T * (d + 2 * bottleneck) : 0) + (scalingVectors ? T * (2 * kv + f) : 0)
      + (dora ? doraSavedFloats(config: c, capacity: T, rank: rank) : 0)
    let doraRows = dora ? T + max(1, rank) : 0
    let shared = T * (d + c.rotaryDim) + logitRows * d + (storesActivations ? T * d : 0) + doraRows * widest
    return [
      "checkpoints": (c.layerCount + 1) * T * d * f4,
      "activations": (perLayer * (storesActivations ? c.layerCount : 1) + shared) * f4,
      "gradients": T * (2 * d + 2 * q + 2 * kv + 2 * f) * f4 + logitRows * d * f4 + (bottleneck > 0 ? T * d * f4 : 0)
        + doraRows * widest * f4,
      "scratch": (workers * 2 * T * T + workers * max(T, doraRows) * widest + workers * DecodeTiles.defaultTileFloats)
        * f4,
      "logits": logitRows * c.vocabularySize * f4,
    ]
  }

  public init(
    model: LanguageModel, capacity: Int, maximumRank: Int, logitRows: Int = 64, dropout: Float = 0,
    maximumBottleneck: Int = 0, scalingVectors: Bool = false, storesActivations: Bool = false, dora: Bool = false,
    ledger: MemoryLedger
  ) throws {
    guard dropout >= 0, dropout < 1 else {
      throw TrainingError.invalidOption(name: "dropout", reason: "must be at least 0 and below 1, not \(dropout)")
    }
    let c = model.config
    guard capacity >= 2, capacity <= c.contextLength else {
      throw TrainingError.invalidOption(
        name: "seqLen", reason: "must be between 2 and the model's context length \(c.contextLength)")
    }
    self.model = model
    self.capacity = capacity
    self.logitRows = max(1, min(logitRows, capacity))
    self.workers = Threading.workers
    self.maximumRank = max(1, maximumRank)
    let T = capacity
    let d = c.hiddenSize
    let q = c.queryDim
    let kv = c.kvDim
    let f = c.intermediateSize
    func buffer(_ count: Int, _ label: String) throws -> AnonymousBuffer<Float> {
      try AnonymousBuffer(count: count, label: label, ledger: ledger)
    }
    self.storesActivations = storesActivations
    let sets = storesActivations ? c.layerCount : 1
    activationSets = sets
    /// One layer's activation buffer, `sets` times.
    func perLayer(_ count: Int) throws -> AnonymousBuffer<Float> { try buffer(sets * count, "activations") }
    tiles = try DecodeTiles(workers: workers, ledger: ledger)
    checkpoints = try buffer((c.layerCount + 1) * T * d, "checkpoints")
    normed1 = try perLayer(T * d)
    query = try perLayer(T * q)
    keys = try perLayer(T * kv)
    values = try perLayer(T * kv)
    attention = try perLayer(T * q)
    middle = try perLayer(T * d)
    normed2 = try perLayer(T * d)
    gate = try perLayer(T * f)
    up = try perLayer(T * f)
    activated = try perLayer(T * f)
    projected = try buffer(T * d, "activations")
    loraHidden = try perLayer(7 * T * self.maximumRank)
    finalNormedStore = try buffer(storesActivations ? T * d : 0, "activations")
    gradResidual = try buffer(T * d, "gradients")
    gradNormed = try buffer(T * d, "gradients")
    gradQuery = try buffer(T * q, "gradients")
    gradKeys = try buffer(T * kv, "gradients")
    gradValues = try buffer(T * kv, "gradients")
    gradAttention = try buffer(T * q, "gradients")
    gradGate = try buffer(T * f, "gradients")
    gradUp = try buffer(T * f, "gradients")
    attentionScratch = try buffer(workers * 2 * T * T, "scratch")
    let doraRows = dora ? T + self.maximumRank : 0
    partials = try buffer(workers * max(T, doraRows) * max(d, q, f), "scratch")
    rotaryCos = try buffer(T * c.rotaryDim / 2, "activations")
    rotarySin = try buffer(T * c.rotaryDim / 2, "activations")
    logits = try buffer(self.logitRows * c.vocabularySize, "logits")
    gatheredHidden = try buffer(self.logitRows * d, "activations")
    gatheredGradient = try buffer(self.logitRows * d, "gradients")
    rotary = RotaryEmbedding(headDim: c.headDim, rotaryDim: c.rotaryDim, base: c.ropeTheta)
    self.dropout = dropout
    dropoutMask = try buffer(dropout > 0 ? T * max(d, q, f) : 0, "activations")
    self.maximumBottleneck = maximumBottleneck
    let r = maximumBottleneck
    adapterInputs = try perLayer(r > 0 ? 2 * T * d : 0)
    adapterPre = try perLayer(2 * T * r)
    adapterActivated = try perLayer(2 * T * r)
    gradAdapter = try buffer(r > 0 ? T * d : 0, "gradients")
    hasScalings = scalingVectors
    unscaledKeys = try perLayer(scalingVectors ? T * kv : 0)
    unscaledValues = try perLayer(scalingVectors ? T * kv : 0)
    unscaledActivated = try perLayer(scalingVectors ? T * f : 0)
    hasDoRA = dora
    doraSaved = try perLayer(dora ? Self.doraSavedFloats(config: c, capacity: T, rank: self.maximumRank) : 0)
    doraInput = try buffer(doraRows * max(d, q, f), "activations")
    doraGradient = try buffer(doraRows * max(d, q, f), "gradients")
  }

  /// Floats of one layer set's saved DoRA buffers: (T + r + 1) × out for each of the seven projections.
  static func doraSavedFloats(config c: ModelConfig, capacity T: Int, rank: Int) -> Int {
    ProjectionTarget.allCases.reduce(0) { $0 + (T + max(1, rank) + 1) * $1.shape(c).out }
  }

  /// A row of training data: token ids, next-token targets (−1 = no loss) and, for packed rows, each token's
  /// segment start (the row index of its sequence's first token; positions restart there and attention stops there).
  public struct Row {
    public var tokens: [Int32]
    public var targets: [Int32]
    public var segmentStarts: [Int32]?
    /// Seeds this row's LoRA dropout masks (training only; nil: no dropout).
    public var dropoutSeed: UInt64?
    public init(tokens: [Int32], targets: [Int32], segmentStarts: [Int32]? = nil, dropoutSeed: UInt64? = nil) {
      self.tokens = tokens
      self.targets = targets
      self.segmentStarts = segmentStarts
      self.dropoutSeed = dropoutSeed
    }
  }

  /// Forward and backward for one row: returns the summed loss and the number of predicted tokens, and accumulates
  /// `lossScale` × d(loss sum)/dθ into every LoRA gradient (pass 1/N for a mean over N tokens of a batch).
  public func accumulateGradients(_ row: Row, lora: any LoRAProvider, lossScale: Float) throws -> (
    lossSum: Double, counted: Int
  ) {
    try run(row, lora: lora, virtual: nil, lossScale: lossScale, backward: true)
  }

  /// Forward and backward for one row with a method's trainable parts (LoRA, a soft prompt, …).
  public func accumulateGradients(_ row: Row, method: any TrainableMethod, lossScale: Float) throws -> (
    lossSum: Double, counted: Int
  ) {
    rowMethod = method
    defer { rowMethod = nil }
    return try run(row, lora: method.lora, virtual: method.virtualTokens, lossScale: lossScale, backward: true)
  }

  /// Forward only with a method's parts (LoRA, soft prompt, bottleneck adapters).
  public func loss(_ row: Row, method: (any TrainableMethod)?) throws -> (lossSum: Double, counted: Int) {
    rowMethod = method
    defer { rowMethod = nil }
    return try run(
      row, lora: method?.lora, virtual: method?.virtualTokens.map { $0 as any VirtualTokenGradients }, lossScale: 1,
      backward: false)
  }

  /// Forward only: the summed loss and the count, no gradients (dropout applies only if the row has a seed).
  public func loss(_ row: Row, lora: (any LoRAProvider)?, virtual: (any VirtualTokenProvider)? = nil) throws -> (
    lossSum: Double, counted: Int
  ) {
    try run(row, lora: lora, virtual: virtual.map(ReadOnlyVirtualTokens.init), lossScale: 1, backward: false)
  }
}

/// Trainable virtual-token embeddings: a provider that also takes their gradients.
public protocol VirtualTokenGradients: VirtualTokenProvider {
  /// The gradient of virtual token `index`'s embedding (hiddenSize floats), accumulated by backward passes.
  func virtualGradient(_ index: Int) -> UnsafeMutablePointer<Float>
}

/// A provider seen by a forward-only pass: gradients are never asked for.
final class ReadOnlyVirtualTokens: VirtualTokenGradients {
  let base: any VirtualTokenProvider
  init(_ base: any VirtualTokenProvider) { self.base = base }
  var virtualTokenCount: Int { base.virtualTokenCount }
  func virtualEmbedding(_ index: Int) -> UnsafePointer<Float> { base.virtualEmbedding(index) }
  func virtualGradient(_ index: Int) -> UnsafeMutablePointer<Float> {
    preconditionFailure("a forward-only pass asked for a gradient")
  }
}
