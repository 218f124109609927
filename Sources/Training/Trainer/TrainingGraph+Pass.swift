import Memory
import Model
import Tensor

extension TrainingGraph {
  /// The whole pass for one row; `backward` false stops after the loss. Virtual token ids (−1 − k) take their
  /// embeddings from `virtual`, and with `backward` their rows of d(loss)/d(embeddings) are added to its gradients.
  func run(
    _ row: Row, lora: (any LoRAProvider)?, virtual: (any VirtualTokenGradients)?, lossScale: Float, backward: Bool
  ) throws -> (lossSum: Double, counted: Int) {
    try run(row, lora: lora, virtual: virtual, backward: backward) { backward in
      try head(row, lossScale: lossScale, backward: backward)
    }
  }

  /// The pass with a pluggable head: `headPass(backward)` runs after the last layer's forward, reading the final
  /// hidden state from the last checkpoint and, with `backward`, leaving d(loss)/d(final hidden) in gradResidual.
  func run(
    _ row: Row, lora: (any LoRAProvider)?, virtual: (any VirtualTokenGradients)?, backward: Bool,
    headPass: (Bool) throws -> (lossSum: Double, counted: Int)
  ) throws -> (lossSum: Double, counted: Int) {
    let c = model.config
    let n = row.tokens.count
    let d = c.hiddenSize
    try validate(row, virtualCount: virtual?.virtualTokenCount ?? 0)
    rowDropoutSeed = dropout > 0 ? row.dropoutSeed : nil
    defer { rowDropoutSeed = nil }
    if let bottlenecks = rowBottlenecks, bottlenecks.maximumBottleneck > maximumBottleneck {
      throw TrainingError.invalidOption(
        name: "adapter", reason: "bottleneck \(bottlenecks.maximumBottleneck) exceeds the graph's \(maximumBottleneck)")
    }
    if lora?.hasDoRA == true, !hasDoRA {
      throw TrainingError.invalidOption(name: "useDoRA", reason: "the graph was built without room for DoRA")
    }
    if let lora, lora.maximumRank > maximumRank {
      throw TrainingError.invalidOption(
        name: "rank", reason: "rank \(lora.maximumRank) exceeds the graph's \(maximumRank)")
    }
    // Embeddings into checkpoint 0; rotary tables at each token's position within its segment.
    let embedding = model.embeddingForPass
    for (t, token) in row.tokens.enumerated() {
      if let index = VirtualToken.index(token), let virtual {
        (checkpoints.pointer + t * d).update(from: virtual.virtualEmbedding(index), count: d)
      } else {
        embedding.decodeRows(Int(token)..<(Int(token) + 1), into: checkpoints.pointer + t * d)
      }
    }
    let half = c.rotaryDim / 2
    for t in 0..<n {
      let position = t - Int(row.segmentStarts?[t] ?? 0)
      rotary.table(
        positions: position..<(position + 1), cos: rotaryCos.pointer + t * half, sin: rotarySin.pointer + t * half)
    }
    return try row.segmentStarts.withOptionalBuffer { segments in
      RunPhase.enter(.forward)
      for layer in 0..<c.layerCount {
        model.beginLayer(layer, next: layer + 1)
        layerForward(layer, tokens: n, segments: segments, lora: lora)
        model.endLayer(layer)
      }
      let result = try headPass(backward)
      model.endHead()
      guard
        backward,
        lora != nil || virtual != nil || rowBottlenecks != nil || rowScalings != nil || rowNorms != nil
          || rowMatrices?.overridesLayers == true
      else {
        return result
      }
      RunPhase.enter(.backward)
      for layer in stride(from: c.layerCount - 1, through: 0, by: -1) {
        model.beginLayer(layer, next: layer - 1)
        if !storesActivations {
          layerForward(layer, tokens: n, segments: segments, lora: lora)  // recompute this layer's activations
        }
        layerBackward(layer, tokens: n, segments: segments, lora: lora)
        model.endLayer(layer)
      }
      // gradResidual now holds d(loss)/d(input embeddings): the soft prompt's rows are its gradient.
      if let virtual {
        for (t, token) in row.tokens.enumerated() {
          guard let index = VirtualToken.index(token) else { continue }
          addInPlace(virtual.virtualGradient(index), gradResidual.pointer + t * d, count: d)
        }
      }
      return result
    }
  }

  func validate(_ row: Row, virtualCount: Int) throws {
    let n = row.tokens.count
    let vocabulary = model.config.vocabularySize
    guard n >= 1, n <= capacity else {
      throw TrainingError.invalidOption(name: "row", reason: "\(n) tokens do not fit the sequence length \(capacity)")
    }
    guard row.targets.count == n, row.segmentStarts.map({ $0.count == n }) ?? true else {
      throw TrainingError.invalidOption(name: "row", reason: "tokens, targets and segment starts differ in length")
    }
    for token in row.tokens
    where Int(token) >= vocabulary || (VirtualToken.index(token).map { $0 >= virtualCount } ?? false) {
      throw TrainingError.invalidOption(
        name: "row",
        reason: "token id \(token) is outside the vocabulary of \(vocabulary) and the \(virtualCount) virtual tokens")
    }
    for target in row.targets where target < -1 || Int(target) >= vocabulary {
      throw TrainingError.invalidOption(
        name: "row", reason: "target \(target) is outside the vocabulary of \(vocabulary)")
    }
    if let starts = row.segmentStarts {
      for (t, s) in starts.enumerated() where s < 0 || Int(s) > t || (t > 0 && s != starts[t - 1] && Int(s) != t) {
        throw TrainingError.invalidOption(name: "row", reason: "segment start \(s) at token \(t) is inconsistent")
      }
    }
  }

  /// checkpoints[layer] → checkpoints[layer + 1], leaving this layer's activations in the per-layer buffers.
  func layerForward(_ index: Int, tokens n: Int, segments: UnsafePointer<Int32>?, lora: (any LoRAProvider)?) {
    forwardLayer(
      index, tokens: n, model: model, modifiers: modifiers(lora: lora),
      workspace: GraphWorkspace(graph: self, segments: segments), tiles: tiles)
  }

  /// gradResidual holds d(loss)/d(layer output); leaves d(loss)/d(layer input) there and adds LoRA gradients.
  func layerBackward(_ index: Int, tokens n: Int, segments: UnsafePointer<Int32>?, lora: (any LoRAProvider)?) {
    let c = model.config
    let d = c.hiddenSize
    let q = c.queryDim
    let kv = c.kvDim
    let f = c.intermediateSize
    let layer = model.weights.layers[index]
    let a = activations(index)
    let x = checkpoints.pointer + index * capacity * d
    // MLP: out = middle + down(silu(gate)·up), gate/up from rmsnorm(middle).
    gradGate.pointer.initialize(repeating: 0, count: n * f)  // d(activated), then d(gate) in place
    linearBackward(
      index, .down, layer, input: a.activated,
      outputGradient: bottleneckBackward(index, .mlp, outputGradient: gradResidual.pointer, tokens: n, saved: a),
      inputGradient: gradGate.pointer, tokens: n, lora: lora, saved: a)
    scaleBackward(index, .down, gradGate.pointer, unscaled: a.unscaledActivated, tokens: n, width: f)
    swigluBackward(
      gate: a.gate, up: a.up, outputGradient: gradGate.pointer, gateGradient: gradGate.pointer,
      upGradient: gradUp.pointer, count: n * f)
    gradNormed.pointer.initialize(repeating: 0, count: n * d)
    linearBackward(
      index, .gate, layer, input: a.normed2, outputGradient: gradGate.pointer,
      inputGradient: gradNormed.pointer, tokens: n, lora: lora, saved: a)
    linearBackward(
      index, .up, layer, input: a.normed2, outputGradient: gradUp.pointer,
      inputGradient: gradNormed.pointer, tokens: n, lora: lora, saved: a)
    withNorm(index, .mlp, layer.mlpNorm) { weight, weightGradient in
      rmsNormBackward(
        input: a.middle, weight: weight, outputGradient: gradNormed.pointer, inputGradient: gradResidual.pointer,
        weightGradient: weightGradient, rows: n, dim: d, epsilon: c.rmsNormEpsilon)
    }
    // Attention: middle = x + o(attention(rope(q(h)), rope(k(h)), v(h))), h = rmsnorm(x).
    gradAttention.pointer.initialize(repeating: 0, count: n * q)
    linearBackward(
      index, .o, layer, input: a.attention,
      outputGradient: bottleneckBackward(index, .attention, outputGradient: gradResidual.pointer, tokens: n, saved: a),
      inputGradient: gradAttention.pointer, tokens: n, lora: lora, saved: a)
    causalAttentionBackward(
      query: a.query, keys: a.keys, values: a.values, outputGradient: gradAttention.pointer,
      queryGradient: gradQuery.pointer, keysGradient: gradKeys.pointer, valuesGradient: gradValues.pointer, tokens: n,
      heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim, segmentStarts: segments,
      scratch: attentionScratch.pointer, scratchPerWorker: 2 * capacity * capacity, workers: workers)
    rotaryBackward(
      gradQuery.pointer, tokens: n, heads: c.headCount, headDim: c.headDim, rotaryDim: c.rotaryDim, rowStride: q,
      cos: rotaryCos.pointer, sin: rotarySin.pointer)
    rotaryBackward(
      gradKeys.pointer, tokens: n, heads: c.kvHeadCount, headDim: c.headDim, rotaryDim: c.rotaryDim, rowStride: kv,
      cos: rotaryCos.pointer, sin: rotarySin.pointer)
    scaleBackward(index, .k, gradKeys.pointer, unscaled: a.unscaledKeys, tokens: n, width: kv)
    scaleBackward(index, .v, gradValues.pointer, unscaled: a.unscaledValues, tokens: n, width: kv)
    gradNormed.pointer.initialize(repeating: 0, count: n * d)
    linearBackward(
      index, .q, layer, input: a.normed1, outputGradient: gradQuery.pointer,
      inputGradient: gradNormed.pointer, tokens: n, lora: lora, saved: a)
    linearBackward(
      index, .k, layer, input: a.normed1, outputGradient: gradKeys.pointer,
      inputGradient: gradNormed.pointer, tokens: n, lora: lora, saved: a)
    linearBackward(
      index, .v, layer, input: a.normed1, outputGradient: gradValues.pointer,
      inputGradient: gradNormed.pointer, tokens: n, lora: lora, saved: a)
    withNorm(index, .attention, layer.attentionNorm) { weight, weightGradient in
      rmsNormBackward(
        input: x, weight: weight, outputGradient: gradNormed.pointer, inputGradient: gradResidual.pointer,
        weightGradient: weightGradient, rows: n, dim: d, epsilon: c.rmsNormEpsilon)
    }
  }

  /// Final norm, output head and cross-entropy, `logitRows` positions at a time. With `backward`, leaves
  /// d(lossScale·loss)/d(final hidden) in gradResidual.
  func head(_ row: Row, lossScale: Float, backward: Bool) throws -> (lossSum: Double, counted: Int) {
    let c = model.config
    let n = row.tokens.count
    let d = c.hiddenSize
    let V = c.vocabularySize
    let final = checkpoints.pointer + c.layerCount * capacity * d
    withNorm(nil, .attention, model.weights.finalNorm) { weight, _ in
      rmsNormForward(input: final, weight: weight, output: finalNormed, rows: n, dim: d, epsilon: c.rmsNormEpsilon)
    }
    if backward { gradNormed.pointer.initialize(repeating: 0, count: n * d) }
    // Only positions with a target need logits: gather their states `logitRows` at a time (chat data trains on a
    // fraction of its tokens), and scatter the gradients back.
    let positions = (0..<n).filter { row.targets[$0] >= 0 }
    var lossSum = 0.0
    var counted = 0
    var start = 0
    while start < positions.count {
      let chunk = positions[start..<min(positions.count, start + logitRows)]
      for (i, p) in chunk.enumerated() {
        (gatheredHidden.pointer + i * d).update(from: finalNormed + p * d, count: d)
      }
      let targets = chunk.map { row.targets[$0] }
      let headWeight = model.head(with: rowMatrices)
      frozenLinearForward(
        input: gatheredHidden.pointer, tokens: chunk.count, weight: headWeight, output: logits.pointer,
        ldOutput: V, tiles: tiles)
      let (chunkLoss, chunkCount) = targets.withUnsafeBufferPointer {
        crossEntropyForwardBackward(
          logits: logits.pointer, targets: $0.baseAddress!, rows: chunk.count, vocab: V, lossScale: lossScale,
          workers: workers)
      }
      lossSum += chunkLoss
      counted += chunkCount
      if backward {
        accumulateHeadGradient(rows: chunk.count)
        gatheredGradient.pointer.initialize(repeating: 0, count: chunk.count * d)
        frozenLinearBackward(
          outputGradient: logits.pointer, ldOutputGradient: V, tokens: chunk.count, weight: headWeight,
          inputGradient: gatheredGradient.pointer, tiles: tiles, partials: partials.pointer)
        for (i, p) in chunk.enumerated() {
          addInPlace(gradNormed.pointer + p * d, gatheredGradient.pointer + i * d, count: d)
        }
      }
      start += chunk.count
    }
    if backward {
      gradResidual.pointer.initialize(repeating: 0, count: n * d)
      withNorm(nil, .attention, model.weights.finalNorm) { weight, weightGradient in
        rmsNormBackward(
          input: final, weight: weight, outputGradient: gradNormed.pointer, inputGradient: gradResidual.pointer,
          weightGradient: weightGradient, rows: n, dim: d, epsilon: c.rmsNormEpsilon)
      }
    }
    return (lossSum, counted)
  }

  /// inputGradient += outputGradient · W (+ the LoRA path's input gradient, and its A/B gradients).
  func linearBackward(
    _ layerIndex: Int, _ target: ProjectionTarget, _ layer: LayerWeights, input: UnsafePointer<Float>,
    outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>, tokens n: Int,
    lora: (any LoRAProvider)?, saved: LayerActivations
  ) {
    let weight = self.weight(layerIndex, target, layer)
    let view = lora?.lora(layer: layerIndex, target: target)
    if let view, let dora = view.dora {
      // DoRA scales the whole projection, the frozen path included: its backward covers both.
      doraBackward(
        input: input, outputGradient: outputGradient, inputGradient: inputGradient, tokens: n, weight: weight,
        lora: view, dora: dora, dropoutMask: mask(layerIndex, target, tokens: n, width: weight.cols),
        hidden: hidden(target, saved), buffers: doraBuffers(layer: layerIndex, target: target),
        scratch: doraGradient.pointer, partials: partials.pointer, tiles: tiles)
      return
    }
    frozenLinearBackward(
      outputGradient: outputGradient, ldOutputGradient: weight.rows, tokens: n, weight: weight,
      inputGradient: inputGradient,
      tiles: tiles, partials: partials.pointer)
    if let trainable = rowMatrices?.matrix(layer: layerIndex, target: target) {
      // dW (out × in) += dyᵀ (out × n) · x (n × in).
      BLAS.gemm(
        transposeA: true, transposeB: false, m: weight.rows, n: weight.cols, k: n, a: outputGradient, lda: weight.rows,
        b: input, ldb: weight.cols, beta: 1, c: trainable.gradient, ldc: weight.cols)
    }
    guard let view else { return }
    loraBackward(
      input: input, a: view.a, b: view.b, scale: view.scale,
      dropoutMask: mask(layerIndex, target, tokens: n, width: weight.cols), hidden: hidden(target, saved),
      outputGradient: outputGradient,
      inputGradient: inputGradient, aGradient: view.gradA, bGradient: view.gradB, tokens: n, inFeatures: weight.cols,
      outFeatures: weight.rows, rank: view.rank)
  }

  /// With a trainable head: dW_head (V × d) += dlogitsᵀ (V × rows) · h (rows × d), from the gradient chunk in
  /// `logits` and the gathered states in `gatheredHidden`.
  func accumulateHeadGradient(rows: Int) {
    guard let head = rowMatrices?.outputHead else { return }
    let d = model.config.hiddenSize
    let V = model.config.vocabularySize
    BLAS.gemm(
      transposeA: true, transposeB: false, m: V, n: d, k: rows, a: logits.pointer, lda: V, b: gatheredHidden.pointer,
      ldb: d, beta: 1, c: head.gradient, ldc: d)
  }

  /// The hooks of the row's method, with `lora` (the pass's LoRA pairs).
  func modifiers(lora: (any LoRAProvider)?) -> LayerModifiers {
    LayerModifiers(
      lora: lora, scalings: rowScalings, bottlenecks: rowBottlenecks, norms: rowNorms, matrices: rowMatrices)
  }

  /// The matrix a projection uses in this row: the method's trainable copy when it has one, else the frozen one.
  func weight(_ layerIndex: Int, _ target: ProjectionTarget, _ layer: LayerWeights) -> any FrozenMatrix {
    modifiers(lora: nil).weight(layerIndex, target, in: layer)
  }

  /// Calls `body` with the norm weight to use (the row's method's trainable copy, or the frozen `frozen`) and, for
  /// a trainable copy, its gradient. `layer` nil means the final norm.
  func withNorm(
    _ layer: Int?, _ position: NormPosition, _ frozen: [Float],
    _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>?) -> Void
  ) {
    modifiers(lora: nil).withNorm(layer, position, frozen: frozen, body)
  }

  /// With dx the gradient of x ⊙ l: dl += Σ_t dx ⊙ x, and dx ← dx ⊙ l in place (the gradient of the unscaled x).
  func scaleBackward(
    _ layerIndex: Int, _ target: ProjectionTarget, _ dx: UnsafeMutablePointer<Float>,
    unscaled x: UnsafePointer<Float>, tokens n: Int, width: Int
  ) {
    guard let scale = rowScalings?.scaling(layer: layerIndex, target: target) else { return }
    for t in 0..<n {
      for j in 0..<width {
        scale.gradient[j] += dx[t * width + j] * x[t * width + j]
        dx[t * width + j] *= scale.values[j]
      }
    }
  }

  /// The gradient of the sublayer's output before its adapter: dy itself without an adapter there, else
  /// dy + the branch's input gradient (in `gradAdapter`), with the adapter's parameter gradients accumulated.
  func bottleneckBackward(
    _ layerIndex: Int, _ placement: AdapterPlacement, outputGradient dy: UnsafePointer<Float>, tokens n: Int,
    saved a: LayerActivations
  ) -> UnsafePointer<Float> {
    guard let view = rowBottlenecks?.bottleneck(layer: layerIndex, placement: placement) else { return dy }
    let d = model.config.hiddenSize
    let slot = placement.rawValue
    gradAdapter.pointer.update(from: dy, count: n * d)
    Tensor.bottleneckBackward(
      input: a.adapterInputs + slot * capacity * d, down: view.down, up: view.up, activation: view.activation,
      preActivation: a.adapterPre + slot * capacity * maximumBottleneck,
      activated: a.adapterActivated + slot * capacity * maximumBottleneck, outputGradient: dy,
      inputGradient: gradAdapter.pointer, downGradient: view.downGradient, downBiasGradient: view.downBiasGradient,
      upGradient: view.upGradient, upBiasGradient: view.upBiasGradient, tokens: n, dim: d, bottleneck: view.size)
    return UnsafePointer(gradAdapter.pointer)
  }

  /// The dropout mask of one projection's LoRA input for the current row, (n, width) with entries 0 or 1/(1−p),
  /// regenerated identically from (row seed, layer, target) in the forward, the recompute and the backward.
  func mask(_ layerIndex: Int, _ target: ProjectionTarget, tokens n: Int, width: Int) -> UnsafePointer<Float>? {
    guard let seed = rowDropoutSeed else { return nil }
    let targetIndex = UInt64(ProjectionTarget.allCases.firstIndex(of: target)!)
    var generator = SeededGenerator(
      seed: seed ^ (UInt64(layerIndex) &* 0x9E37_79B9_7F4A_7C15) ^ (targetIndex &* 0xBF58_476D_1CE4_E5B9))
    let keep = 1 / (1 - dropout)
    let p = Double(dropout)
    for i in 0..<(n * width) { dropoutMask.pointer[i] = generator.nextUnit() < p ? 0 : keep }
    return UnsafePointer(dropoutMask.pointer)
  }

  /// This target's saved (T, r) LoRA hidden state in a layer's activation set.
  func hidden(_ target: ProjectionTarget, _ saved: LayerActivations) -> UnsafeMutablePointer<Float> {
    saved.loraHidden + ProjectionTarget.allCases.firstIndex(of: target)! * capacity * maximumRank
  }
}

extension Optional where Wrapped == [Int32] {
  /// Calls body with a pointer to the array's elements, or nil.
  func withOptionalBuffer<R>(_ body: (UnsafePointer<Int32>?) throws -> R) rethrows -> R {
    guard let array = self else { return try body(nil) }
    return try array.withUnsafeBufferPointer { try body($0.baseAddress) }
  }
}
