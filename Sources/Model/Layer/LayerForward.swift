internal import Tensor

/// One transformer layer's forward, written once for inference and training: buffers[input] → buffers[output]
/// through the method's modifiers, with the intermediate values left where `workspace` says (the KV cache, or the set
/// the training graph's backward reads). The rotary tables in the buffers must already hold this call's positions.
///
///   h = rmsnorm(x);  middle = x + o(attention(rope(q(h)), rope(k(h)), v(h)))
///   out = middle + down(silu(gate(h₂)) · up(h₂)),  h₂ = rmsnorm(middle)
/// with each projection's LoRA, IA3's scaling of keys, values and down's input, and the bottleneck adapters on the
/// two sublayer outputs where the method has them.
public func forwardLayer(
  _ index: Int, tokens n: Int, model: LanguageModel, modifiers: LayerModifiers, workspace: some LayerWorkspace,
  tiles: borrowing DecodeTiles
) {
  let c = model.config
  let d = c.hiddenSize
  let layer = model.weights.layers[index]
  let b = workspace.buffers(layer: index)
  modifiers.withNorm(index, .attention, frozen: layer.attentionNorm) { weight, _ in
    rmsNormForward(input: b.input, weight: weight, output: b.normed1, rows: n, dim: d, epsilon: c.rmsNormEpsilon)
  }
  let step = LayerStep(index: index, tokens: n, layer: layer, modifiers: modifiers, workspace: workspace)
  step.project(.q, input: b.normed1, output: b.query, tiles: tiles)
  step.project(.k, input: b.normed1, output: b.keys, tiles: tiles)
  step.project(.v, input: b.normed1, output: b.values, tiles: tiles)
  if let bias = layer.queryBias { addRows(bias, to: b.query, rows: n) }
  if let bias = layer.keyBias { addRows(bias, to: b.keys, rows: n) }
  if let bias = layer.valueBias { addRows(bias, to: b.values, rows: n) }
  step.scale(.k, b.keys, width: c.kvDim)
  step.scale(.v, b.values, width: c.kvDim)
  rotaryForward(
    b.query, tokens: n, heads: c.headCount, headDim: c.headDim, rotaryDim: c.rotaryDim, rowStride: c.queryDim,
    cos: b.rotaryCos, sin: b.rotarySin)
  rotaryForward(
    b.keys, tokens: n, heads: c.kvHeadCount, headDim: c.headDim, rotaryDim: c.rotaryDim, rowStride: c.kvDim,
    cos: b.rotaryCos, sin: b.rotarySin)
  workspace.attend(layer: index, b, tokens: n)
  step.project(.o, input: b.attention, output: b.projected, tiles: tiles)
  step.bottleneck(.attention, on: b.projected, dim: d)
  if b.middle != b.input { b.middle.update(from: b.input, count: n * d) }
  addInPlace(b.middle, b.projected, count: n * d)

  modifiers.withNorm(index, .mlp, frozen: layer.mlpNorm) { weight, _ in
    rmsNormForward(input: b.middle, weight: weight, output: b.normed2, rows: n, dim: d, epsilon: c.rmsNormEpsilon)
  }
  step.project(.gate, input: b.normed2, output: b.gate, tiles: tiles)
  step.project(.up, input: b.normed2, output: b.up, tiles: tiles)
  swigluForward(gate: b.gate, up: b.up, output: b.activated, count: n * c.intermediateSize)
  step.scale(.down, b.activated, width: c.intermediateSize)
  step.project(.down, input: b.activated, output: b.projected, tiles: tiles)
  step.bottleneck(.mlp, on: b.projected, dim: d)
  if b.output != b.middle { b.output.update(from: b.middle, count: n * d) }
  addInPlace(b.output, b.projected, count: n * d)
}

/// The per-projection pieces of one layer's forward, bound to its index, token count, modifiers and workspace.
private struct LayerStep<Workspace: LayerWorkspace> {
  let index: Int
  let tokens: Int
  let layer: LayerWeights
  let modifiers: LayerModifiers
  let workspace: Workspace

  /// output = input · Wᵀ, plus the LoRA pair's scale · (input · Aᵀ) · Bᵀ when the method has one here (and DoRA's
  /// magnitude over both when the pair has one).
  func project(
    _ target: ProjectionTarget, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
    tiles: borrowing DecodeTiles
  ) {
    let weight = modifiers.weight(index, target, in: layer)
    let view = modifiers.lora?.lora(layer: index, target: target)
    if view?.dora == nil {
      frozenLinearForward(
        input: input, tokens: tokens, weight: weight, output: output, ldOutput: weight.rows, tiles: tiles)
    }
    guard let view else { return }
    let scratch = workspace.loraBuffers(layer: index, target: target, tokens: tokens, width: weight.cols)
    if let dora = view.dora {
      doraForward(
        input: input, tokens: tokens, weight: weight, lora: view, dora: dora, dropoutMask: scratch.dropoutMask,
        hidden: scratch.hidden,
        buffers: workspace.doraBuffers(layer: index, target: target, tokens: tokens, rank: view.rank),
        output: output, tiles: tiles)
      return
    }
    loraForward(
      input: input, a: view.a, b: view.b, scale: view.scale, dropoutMask: scratch.dropoutMask, output: output,
      hidden: scratch.hidden, tokens: tokens, inFeatures: weight.cols, outFeatures: weight.rows, rank: view.rank)
  }

  /// x ← x ⊙ l (IA3) when the method scales `target` here, keeping the unscaled x where the workspace wants it.
  func scale(_ target: ProjectionTarget, _ x: UnsafeMutablePointer<Float>, width: Int) {
    guard let scale = modifiers.scalings?.scaling(layer: index, target: target) else { return }
    workspace.unscaledStore(layer: index, target: target)?.update(from: x, count: tokens * width)
    scaleColumns(x, by: scale.values, rows: tokens, cols: width)
  }

  /// y ← y + adapter(y) on a sublayer's output when the method has a bottleneck adapter there (safe in place: the
  /// branch reads its input before it adds to the output).
  func bottleneck(_ placement: AdapterPlacement, on y: UnsafeMutablePointer<Float>, dim: Int) {
    guard let view = modifiers.bottlenecks?.bottleneck(layer: index, placement: placement) else { return }
    workspace.withBottleneckBuffers(
      layer: index, placement: placement, sublayerOutput: y, tokens: tokens, size: view.size
    ) { input, preActivation, activated in
      bottleneckForward(
        input: input, down: view.down, downBias: view.downBias, up: view.up, upBias: view.upBias,
        activation: view.activation, preActivation: preActivation, activated: activated, output: y, tokens: tokens,
        dim: dim, bottleneck: view.size)
    }
  }
}

/// x[r] += bias for each of `rows` rows of width bias.count.
func addRows(_ bias: [Float], to x: UnsafeMutablePointer<Float>, rows: Int) {
  bias.withUnsafeBufferPointer { b in
    for r in 0..<rows { addInPlace(x + r * bias.count, b.baseAddress!, count: bias.count) }
  }
}
