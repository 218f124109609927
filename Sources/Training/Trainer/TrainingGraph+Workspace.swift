import Model
import Tensor

/// The training graph's buffers as a layer's forward sees them: each layer's input and output are its checkpoints,
/// and everything the backward reads (norm outputs, projections, LoRA hidden states, unscaled IA3 inputs, adapter
/// inputs) goes to the layer's activation set.
struct GraphWorkspace: LayerWorkspace {
  unowned let graph: TrainingGraph
  /// Each token's segment start in a packed row, or nil.
  let segments: UnsafePointer<Int32>?

  func buffers(layer index: Int) -> LayerBuffers {
    let g = graph
    let a = g.activations(index)
    let rowFloats = g.capacity * g.model.config.hiddenSize
    return LayerBuffers(
      input: g.checkpoints.pointer + index * rowFloats, normed1: a.normed1, query: a.query, keys: a.keys,
      values: a.values, attention: a.attention, projected: g.projected.pointer, middle: a.middle, normed2: a.normed2,
      gate: a.gate, up: a.up, activated: a.activated, output: g.checkpoints.pointer + (index + 1) * rowFloats,
      rotaryCos: g.rotaryCos.pointer, rotarySin: g.rotarySin.pointer)
  }

  func attend(layer index: Int, _ b: LayerBuffers, tokens n: Int) {
    let g = graph
    let c = g.model.config
    causalAttentionTrainingForward(
      query: b.query, keys: b.keys, values: b.values, output: b.attention, tokens: n, heads: c.headCount,
      kvHeads: c.kvHeadCount, headDim: c.headDim, segmentStarts: segments, scores: g.attentionScratch.pointer,
      scoresPerWorker: 2 * g.capacity * g.capacity, workers: g.workers)
  }

  func loraBuffers(layer index: Int, target: ProjectionTarget, tokens n: Int, width: Int) -> (
    hidden: UnsafeMutablePointer<Float>, dropoutMask: UnsafePointer<Float>?
  ) {
    (graph.hidden(target, graph.activations(index)), graph.mask(index, target, tokens: n, width: width))
  }

  func doraBuffers(layer index: Int, target: ProjectionTarget, tokens n: Int, rank: Int) -> DoRABuffers {
    graph.doraBuffers(layer: index, target: target)
  }

  func unscaledStore(layer index: Int, target: ProjectionTarget) -> UnsafeMutablePointer<Float>? {
    precondition(graph.hasScalings, "the graph was built without room for scaling vectors")
    let a = graph.activations(index)
    switch target {
    case .k: return a.unscaledKeys
    case .v: return a.unscaledValues
    case .down: return a.unscaledActivated
    default: preconditionFailure("IA3 scales keys, values and down_proj's input, not \(target)")
    }
  }

  func withBottleneckBuffers(
    layer index: Int, placement: AdapterPlacement, sublayerOutput y: UnsafeMutablePointer<Float>, tokens n: Int,
    size: Int,
    _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) {
    let g = graph
    let a = g.activations(index)
    let slot = placement.rawValue
    let input = a.adapterInputs + slot * g.capacity * g.model.config.hiddenSize
    input.update(from: y, count: n * g.model.config.hiddenSize)
    body(
      input, a.adapterPre + slot * g.capacity * g.maximumBottleneck,
      a.adapterActivated + slot * g.capacity * g.maximumBottleneck)
  }
}

extension TrainingGraph {
  /// Layer `index`'s saved DoRA buffers of one projection (the forward writes them, the backward reads them), with
  /// the shared stacked input.
  func doraBuffers(layer index: Int, target: ProjectionTarget) -> DoRABuffers {
    precondition(hasDoRA, "the graph was built without room for DoRA")
    let c = model.config
    let rows = capacity + maximumRank
    var offset = 0
    for other in ProjectionTarget.allCases.prefix(while: { $0 != target }) { offset += (rows + 1) * other.shape(c).out }
    let saved = activations(index).dora + offset
    return DoRABuffers(
      stackedInput: doraInput.pointer, stackedOutput: saved, norms: saved + rows * target.shape(c).out)
  }
}
