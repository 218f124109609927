import Glibc
public import Memory
internal import Tensor

/// Runs the frozen model forward with a KV cache: prompt processing in chunks, then one token at a time.
///
/// Every buffer is sized from the configuration and two numbers — `capacity` (positions the cache holds) and `chunk`
/// (tokens per forward call) — and reserved in the ledger before anything runs (STYLE.md: plan, then allocate).
/// Shapes: d = hidden, q = heads·headDim, kv = kvHeads·headDim, f = intermediate, T = chunk, L = capacity.
public final class InferenceSession {
  public let model: LanguageModel
  public let capacity: Int
  public let chunk: Int
  /// Tokens in the cache.
  public private(set) var position = 0
  /// Rows of logits computed per head product; bounds the logits buffer to logitRows × vocabulary.
  public let logitRows: Int

  private let workers: Int
  private let tiles: DecodeTiles
  private let keyCache: AnonymousBuffer<Float>  // (layers, L, kv)
  private let valueCache: AnonymousBuffer<Float>  // (layers, L, kv)
  private let hidden: AnonymousBuffer<Float>  // (T, d) residual stream
  private let normed: AnonymousBuffer<Float>  // (T, d) normed input / projection output
  private let query: AnonymousBuffer<Float>  // (T, q)
  private let attention: AnonymousBuffer<Float>  // (T, q)
  private let gate: AnonymousBuffer<Float>  // (T, f)
  private let up: AnonymousBuffer<Float>  // (T, f)
  private let rotaryCos: AnonymousBuffer<Float>  // (T, rot/2)
  private let rotarySin: AnonymousBuffer<Float>  // (T, rot/2)
  private let scores: AnonymousBuffer<Float>  // (workers, T, L)
  private let logits: AnonymousBuffer<Float>  // (logitRows, vocab)
  private let rotary: RotaryEmbedding
  /// LoRA parts applied on top of the frozen projections (generate/eval --adapter), or nil for the base model.
  public var adapter: (any LoRAProvider)?
  /// A soft prompt's embeddings for virtual token ids (−1 − k), or nil when there is none.
  public var virtualTokens: (any VirtualTokenProvider)?
  /// Bottleneck adapters on the attention and MLP outputs, or nil.
  public var bottlenecks: (any BottleneckProvider)?
  /// IA3 scaling vectors on keys, values and the down projection's input, or nil.
  public var scalings: (any ScalingVectorProvider)?
  /// Norm weights replacing the frozen ones (selective tuning), or nil.
  public var norms: (any NormOverrideProvider)?
  /// Trainable copies of projection matrices (selective tuning of layers), or nil.
  public var matrices: (any MatrixOverrideProvider)?
  private let loraHidden: AnonymousBuffer<Float>  // (T, maximum rank)
  private let doraInput: AnonymousBuffer<Float>  // (T + r, max(d, q, f)) with a DoRA adapter, else empty
  private let doraOutput: AnonymousBuffer<Float>  // (T + r, max(d, q, f))
  private let doraNorms: AnonymousBuffer<Float>  // (max(d, q, f))

  /// Bytes this session will reserve, computed without allocating (for plans and reports).
  /// `doraRank`: the rank of a DoRA adapter the session will apply (0: none), whose projections need room for the
  /// chunk with A's rows under it.
  public static func plannedBytes(
    config c: ModelConfig, capacity: Int, chunk: Int, logitRows: Int = 16, workers: Int, doraRank: Int = 0
  ) -> [String: Int] {
    let f = MemoryLayout<Float>.stride
    return [
      "kv-cache": 2 * c.layerCount * capacity * c.kvDim * f,
      "activations": chunk * (2 * c.hiddenSize + 2 * c.queryDim + 2 * c.intermediateSize + c.rotaryDim) * f
        + doraFloats(config: c, chunk: chunk, rank: doraRank) * f,
      "scratch": workers * chunk * capacity * f + workers * DecodeTiles.defaultTileFloats * f,
      "logits": logitRows * c.vocabularySize * f,
    ]
  }

  public init(
    model: LanguageModel, capacity: Int, chunk: Int = 128, logitRows: Int = 16, adapter: (any LoRAProvider)? = nil,
    ledger: MemoryLedger
  ) throws {
    let c = model.config
    guard capacity >= 1 else { throw ModelError.contextExceeded(tokens: 0, limit: 0) }
    guard capacity <= c.contextLength else {
      throw ModelError.contextExceeded(tokens: capacity, limit: c.contextLength)
    }
    self.model = model
    self.capacity = capacity
    self.chunk = max(1, min(chunk, capacity))
    self.logitRows = max(1, logitRows)
    self.workers = Threading.workers
    let T = self.chunk
    tiles = try DecodeTiles(workers: workers, ledger: ledger)
    keyCache = try AnonymousBuffer(count: c.layerCount * capacity * c.kvDim, label: "kv-cache", ledger: ledger)
    valueCache = try AnonymousBuffer(count: c.layerCount * capacity * c.kvDim, label: "kv-cache", ledger: ledger)
    hidden = try AnonymousBuffer(count: T * c.hiddenSize, label: "activations", ledger: ledger)
    normed = try AnonymousBuffer(count: T * c.hiddenSize, label: "activations", ledger: ledger)
    query = try AnonymousBuffer(count: T * c.queryDim, label: "activations", ledger: ledger)
    attention = try AnonymousBuffer(count: T * c.queryDim, label: "activations", ledger: ledger)
    gate = try AnonymousBuffer(count: T * c.intermediateSize, label: "activations", ledger: ledger)
    up = try AnonymousBuffer(count: T * c.intermediateSize, label: "activations", ledger: ledger)
    rotaryCos = try AnonymousBuffer(count: T * c.rotaryDim / 2, label: "activations", ledger: ledger)
    rotarySin = try AnonymousBuffer(count: T * c.rotaryDim / 2, label: "activations", ledger: ledger)
    scores = try AnonymousBuffer(count: workers * T * capacity, label: "scratch", ledger: ledger)
    logits = try AnonymousBuffer(count: self.logitRows * c.vocabularySize, label: "logits", ledger: ledger)
    rotary = RotaryEmbedding(headDim: c.headDim, rotaryDim: c.rotaryDim, base: c.ropeTheta)
    self.adapter = adapter
    loraHidden = try AnonymousBuffer(count: T * max(1, adapter?.maximumRank ?? 1), label: "activations", ledger: ledger)
    let doraRank = adapter?.hasDoRA == true ? adapter!.maximumRank : 0
    let widest = max(c.hiddenSize, c.queryDim, c.intermediateSize)
    doraInput = try AnonymousBuffer(
      count: doraRank > 0 ? (T + doraRank) * widest : 0, label: "activations", ledger: ledger)
    doraOutput = try AnonymousBuffer(
      count: doraRank > 0 ? (T + doraRank) * widest : 0, label: "activations", ledger: ledger)
    doraNorms = try AnonymousBuffer(count: doraRank > 0 ? widest : 0, label: "activations", ledger: ledger)
  }

  /// Floats of DoRA's buffers for a chunk: the stacked input and output, (chunk + rank) × the widest projection,
  /// and one norm per output row.
  static func doraFloats(config c: ModelConfig, chunk: Int, rank: Int) -> Int {
    guard rank > 0 else { return 0 }
    let widest = max(c.hiddenSize, c.queryDim, c.intermediateSize)
    return 2 * (chunk + rank) * widest + widest
  }

  /// Forgets the cached tokens (the buffers stay).
  public func reset() { position = 0 }

  /// Which positions of a forward call need logits.
  public enum LogitSelection { case none, last, all }

  /// Appends `tokens` after the cached ones and runs them through the model in chunks. For each selected position,
  /// calls `body(indexInTokens, logits)` with that position's logits over the vocabulary (valid during the call).
  public func forward(
    _ tokens: [Int32], logits selection: LogitSelection,
    _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void = { _, _ in }
  ) throws {
    guard position + tokens.count <= capacity else {
      throw ModelError.contextExceeded(tokens: position + tokens.count, limit: capacity)
    }
    let vocabulary = model.config.vocabularySize
    let virtualCount = virtualTokens?.virtualTokenCount ?? 0
    for token in tokens
    where Int(token) >= vocabulary || (VirtualToken.index(token).map { $0 >= virtualCount } ?? false) {
      throw ModelError.invalidTokenID(id: Int(token), vocabularySize: vocabulary)
    }
    var start = 0
    while start < tokens.count {
      let count = min(chunk, tokens.count - start)
      tokens[start..<(start + count)].withUnsafeBufferPointer { runChunk($0) }
      let isLastChunk = start + count == tokens.count
      switch selection {
      case .none: break
      case .last: if isLastChunk { try emitLogits(rows: (count - 1)..<count, firstIndex: start, body) }
      case .all: try emitLogits(rows: 0..<count, firstIndex: start, body)
      }
      start += count
    }
  }

  /// Final norm and output head for `rows` of the last chunk, `logitRows` at a time.
  private func emitLogits(rows: Range<Int>, firstIndex: Int, _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void)
    throws
  {
    let c = model.config
    let d = c.hiddenSize
    var r = rows.lowerBound
    while r < rows.upperBound {
      let n = min(logitRows, rows.upperBound - r)
      modifiers.withNorm(nil, .attention, frozen: model.weights.finalNorm) { weight, _ in
        rmsNormForward(
          input: hidden.pointer + r * d, weight: weight, output: normed.pointer, rows: n, dim: d,
          epsilon: c.rmsNormEpsilon)
      }
      frozenLinearForward(
        input: normed.pointer, tokens: n, weight: model.head(with: matrices), output: logits.pointer,
        ldOutput: c.vocabularySize, tiles: tiles)
      for i in 0..<n {
        try body(
          firstIndex + r + i, UnsafeBufferPointer(start: logits.pointer + i * c.vocabularySize, count: c.vocabularySize)
        )
      }
      r += n
    }
    model.endHead()
  }

  /// One chunk of T tokens at positions position..<position+T through every layer; leaves the residual in `hidden`.
  private func runChunk(_ tokens: UnsafeBufferPointer<Int32>) {
    let c = model.config
    let T = tokens.count
    let d = c.hiddenSize
    let embedding = model.embeddingForPass
    for (t, token) in tokens.enumerated() {
      if let virtual = VirtualToken.index(token), let virtualTokens {
        (hidden.pointer + t * d).update(from: virtualTokens.virtualEmbedding(virtual), count: d)
      } else {
        embedding.decodeRows(Int(token)..<(Int(token) + 1), into: hidden.pointer + t * d)
      }
    }
    rotary.table(positions: position..<(position + T), cos: rotaryCos.pointer, sin: rotarySin.pointer)
    let workspace = CacheWorkspace(session: self)
    for index in model.weights.layers.indices {
      model.beginLayer(index, next: index + 1)
      forwardLayer(index, tokens: T, model: model, modifiers: modifiers, workspace: workspace, tiles: tiles)
      model.endLayer(index)
    }
    position += T
  }

  /// The method's hooks this session applies.
  private var modifiers: LayerModifiers {
    LayerModifiers(lora: adapter, scalings: scalings, bottlenecks: bottlenecks, norms: norms, matrices: matrices)
  }

  /// The session's buffers as a layer sees them: keys and values go straight into the cache at the current
  /// position, the residual stream is updated in place, and the (T, d) and (T, f) buffers are reused.
  private struct CacheWorkspace: LayerWorkspace {
    unowned let session: InferenceSession

    func buffers(layer index: Int) -> LayerBuffers {
      let s = session
      let cacheOffset = (index * s.capacity + s.position) * s.model.config.kvDim
      return LayerBuffers(
        input: s.hidden.pointer, normed1: s.normed.pointer, query: s.query.pointer,
        keys: s.keyCache.pointer + cacheOffset, values: s.valueCache.pointer + cacheOffset,
        attention: s.attention.pointer, projected: s.normed.pointer, middle: s.hidden.pointer,
        normed2: s.normed.pointer, gate: s.gate.pointer, up: s.up.pointer, activated: s.gate.pointer,
        output: s.hidden.pointer, rotaryCos: s.rotaryCos.pointer, rotarySin: s.rotarySin.pointer)
    }

    func attend(layer index: Int, _ buffers: LayerBuffers, tokens T: Int) {
      let s = session
      let c = s.model.config
      let layerStart = index * s.capacity * c.kvDim
      causalAttentionForward(
        query: buffers.query, keys: s.keyCache.pointer + layerStart, values: s.valueCache.pointer + layerStart,
        output: buffers.attention, tokens: T, start: s.position, heads: c.headCount, kvHeads: c.kvHeadCount,
        headDim: c.headDim, scores: s.scores.pointer, scoresPerWorker: T * s.capacity, workers: s.workers)
    }

    func loraBuffers(layer index: Int, target: ProjectionTarget, tokens: Int, width: Int) -> (
      hidden: UnsafeMutablePointer<Float>, dropoutMask: UnsafePointer<Float>?
    ) {
      (session.loraHidden.pointer, nil)
    }

    func doraBuffers(layer index: Int, target: ProjectionTarget, tokens: Int, rank: Int) -> DoRABuffers {
      let s = session
      precondition(
        (tokens + rank) * max(s.model.config.hiddenSize, s.model.config.queryDim, s.model.config.intermediateSize)
          <= s.doraOutput.count,
        "the session was made without room for a DoRA adapter of rank \(rank): pass it to init")
      return DoRABuffers(
        stackedInput: s.doraInput.pointer, stackedOutput: s.doraOutput.pointer, norms: s.doraNorms.pointer)
    }

    func unscaledStore(layer index: Int, target: ProjectionTarget) -> UnsafeMutablePointer<Float>? { nil }

    func withBottleneckBuffers(
      layer index: Int, placement: AdapterPlacement, sublayerOutput: UnsafeMutablePointer<Float>, tokens T: Int,
      size: Int,
      _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    ) {
      withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * T * size) { scratch in
        body(sublayerOutput, scratch.baseAddress!, scratch.baseAddress! + T * size)
      }
    }
  }

}
