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

  /// Bytes this session will reserve, computed without allocating (for plans and reports).
  public static func plannedBytes(config c: ModelConfig, capacity: Int, chunk: Int, logitRows: Int = 16, workers: Int)
    -> [String: Int]
  {
    let f = MemoryLayout<Float>.stride
    return [
      "kv-cache": 2 * c.layerCount * capacity * c.kvDim * f,
      "activations": chunk * (2 * c.hiddenSize + 2 * c.queryDim + 2 * c.intermediateSize + c.rotaryDim) * f,
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
      withNorm(nil, .attention, model.weights.finalNorm) { weight in
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
    for (index, layer) in model.weights.layers.enumerated() {
      model.beginLayer(index, next: index + 1)
      attentionBlock(layer, index: index, tokens: T)
      mlpBlock(layer, index: index, tokens: T)
      model.endLayer(index)
    }
    position += T
  }

  /// hidden += o_proj(attention(rmsnorm(hidden))), writing this chunk's keys and values into the cache.
  private func attentionBlock(_ layer: LayerWeights, index: Int, tokens T: Int) {
    let c = model.config
    let d = c.hiddenSize
    let kv = c.kvDim
    let q = c.queryDim
    let cacheOffset = (index * capacity + position) * kv
    let keys = keyCache.pointer + cacheOffset
    let values = valueCache.pointer + cacheOffset
    withNorm(index, .attention, layer.attentionNorm) { weight in
      rmsNormForward(
        input: hidden.pointer, weight: weight, output: normed.pointer, rows: T, dim: d, epsilon: c.rmsNormEpsilon)
    }
    project(index, .q, layer, input: normed.pointer, output: query.pointer, tokens: T)
    project(index, .k, layer, input: normed.pointer, output: keys, tokens: T)
    project(index, .v, layer, input: normed.pointer, output: values, tokens: T)
    if let bias = layer.queryBias { addBias(bias, to: query.pointer, rows: T, cols: q) }
    if let bias = layer.keyBias { addBias(bias, to: keys, rows: T, cols: kv) }
    if let bias = layer.valueBias { addBias(bias, to: values, rows: T, cols: kv) }
    if let scale = scalings?.scaling(layer: index, target: .k) {
      scaleColumns(keys, by: scale.values, rows: T, cols: kv)
    }
    if let scale = scalings?.scaling(layer: index, target: .v) {
      scaleColumns(values, by: scale.values, rows: T, cols: kv)
    }
    rotaryForward(
      query.pointer, tokens: T, heads: c.headCount, headDim: c.headDim, rotaryDim: c.rotaryDim, rowStride: q,
      cos: rotaryCos.pointer, sin: rotarySin.pointer)
    rotaryForward(
      keys, tokens: T, heads: c.kvHeadCount, headDim: c.headDim, rotaryDim: c.rotaryDim, rowStride: kv,
      cos: rotaryCos.pointer, sin: rotarySin.pointer)

    let layerKeys = keyCache.pointer + index * capacity * kv
    let layerValues = valueCache.pointer + index * capacity * kv
    causalAttentionForward(
      query: query.pointer, keys: layerKeys, values: layerValues, output: attention.pointer, tokens: T, start: position,
      heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim, scores: scores.pointer,
      scoresPerWorker: T * capacity,
      workers: workers)
    project(index, .o, layer, input: attention.pointer, output: normed.pointer, tokens: T)
    applyBottleneck(index, .attention, to: normed.pointer, tokens: T)
    addInPlace(hidden.pointer, normed.pointer, count: T * d)
  }

  /// x ← x + adapter(x) in place on a sublayer's output (safe: the branch reads x before it adds to it).
  private func applyBottleneck(
    _ layerIndex: Int, _ placement: AdapterPlacement, to x: UnsafeMutablePointer<Float>,
    tokens T: Int
  ) {
    guard let view = bottlenecks?.bottleneck(layer: layerIndex, placement: placement) else { return }
    let d = model.config.hiddenSize
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * T * view.size) { scratch in
      bottleneckForward(
        input: x, down: view.down, downBias: view.downBias, up: view.up, upBias: view.upBias,
        activation: view.activation, preActivation: scratch.baseAddress!,
        activated: scratch.baseAddress! + T * view.size, output: x, tokens: T, dim: d, bottleneck: view.size)
    }
  }

  /// hidden += down(silu(gate(x)) · up(x)), x = rmsnorm(hidden).
  private func mlpBlock(_ layer: LayerWeights, index: Int, tokens T: Int) {
    let c = model.config
    let d = c.hiddenSize
    let f = c.intermediateSize
    withNorm(index, .mlp, layer.mlpNorm) { weight in
      rmsNormForward(
        input: hidden.pointer, weight: weight, output: normed.pointer, rows: T, dim: d, epsilon: c.rmsNormEpsilon)
    }
    project(index, .gate, layer, input: normed.pointer, output: gate.pointer, tokens: T)
    project(index, .up, layer, input: normed.pointer, output: up.pointer, tokens: T)
    swigluForward(gate: gate.pointer, up: up.pointer, output: gate.pointer, count: T * f)
    if let scale = scalings?.scaling(layer: index, target: .down) {
      scaleColumns(gate.pointer, by: scale.values, rows: T, cols: f)
    }
    project(index, .down, layer, input: gate.pointer, output: normed.pointer, tokens: T)
    applyBottleneck(index, .mlp, to: normed.pointer, tokens: T)
    addInPlace(hidden.pointer, normed.pointer, count: T * d)
  }

  /// output = input · Wᵀ for one projection, plus the adapter's scale · (input · Aᵀ) · Bᵀ when it has one there.
  private func project(
    _ layerIndex: Int, _ target: ProjectionTarget, _ layer: LayerWeights, input: UnsafeMutablePointer<Float>,
    output: UnsafeMutablePointer<Float>, tokens T: Int
  ) {
    let weight: any FrozenMatrix =
      matrices?.matrix(layer: layerIndex, target: target)?.matrix ?? target.matrix(in: layer)
    frozenLinearForward(input: input, tokens: T, weight: weight, output: output, ldOutput: weight.rows, tiles: tiles)
    guard let view = adapter?.lora(layer: layerIndex, target: target) else { return }
    loraForward(
      input: input, a: view.a, b: view.b, scale: view.scale, output: output, hidden: loraHidden.pointer, tokens: T,
      inFeatures: weight.cols, outFeatures: weight.rows, rank: view.rank)
  }

  /// Calls `body` with the norm weight in use: `norms`' copy when it has one, else the frozen vector (`layer` nil:
  /// the final norm).
  private func withNorm(
    _ layer: Int?, _ position: NormPosition, _ frozen: [Float], _ body: (UnsafePointer<Float>) -> Void
  ) {
    if let trainable = layer.map({ norms?.norm(layer: $0, position: position) }) ?? norms?.finalNorm {
      body(trainable.weight)
    } else {
      frozen.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
  }

  private func addBias(_ bias: [Float], to x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    bias.withUnsafeBufferPointer { b in
      for r in 0..<rows { addInPlace(x + r * cols, b.baseAddress!, count: cols) }
    }
  }
}
