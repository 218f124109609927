import Memory

/// Pointers to one layer's saved activations: the set the forward writes and the backward reads. With checkpointing
/// every layer shares set 0 (the backward recomputes it first); without, layer i owns set i.
struct LayerActivations {
  let normed1: UnsafeMutablePointer<Float>  // (T, d)
  let query: UnsafeMutablePointer<Float>  // (T, q) rotated
  let keys: UnsafeMutablePointer<Float>  // (T, kv) rotated
  let values: UnsafeMutablePointer<Float>  // (T, kv)
  let attention: UnsafeMutablePointer<Float>  // (T, q)
  let middle: UnsafeMutablePointer<Float>  // (T, d)
  let normed2: UnsafeMutablePointer<Float>  // (T, d)
  let gate: UnsafeMutablePointer<Float>  // (T, f)
  let up: UnsafeMutablePointer<Float>  // (T, f)
  let activated: UnsafeMutablePointer<Float>  // (T, f)
  let loraHidden: UnsafeMutablePointer<Float>  // (7, T, r)
  let adapterInputs: UnsafeMutablePointer<Float>  // (2, T, d)
  let adapterPre: UnsafeMutablePointer<Float>  // (2, T, bottleneck)
  let adapterActivated: UnsafeMutablePointer<Float>  // (2, T, bottleneck)
  let unscaledKeys: UnsafeMutablePointer<Float>  // (T, kv)
  let unscaledValues: UnsafeMutablePointer<Float>  // (T, kv)
  let unscaledActivated: UnsafeMutablePointer<Float>  // (T, f)
  let dora: UnsafeMutablePointer<Float>  // each projection's DoRA output and norms (TrainingGraph.doraBuffers)
}

extension TrainingGraph {
  /// The activation set layer `index` writes in its forward and reads in its backward.
  func activations(_ index: Int) -> LayerActivations {
    let set = storesActivations ? index : 0
    func slot(_ buffer: borrowing AnonymousBuffer<Float>) -> UnsafeMutablePointer<Float> {
      buffer.pointer + set * (buffer.count / activationSets)
    }
    return LayerActivations(
      normed1: slot(normed1), query: slot(query), keys: slot(keys), values: slot(values),
      attention: slot(attention), middle: slot(middle), normed2: slot(normed2), gate: slot(gate), up: slot(up),
      activated: slot(activated), loraHidden: slot(loraHidden), adapterInputs: slot(adapterInputs),
      adapterPre: slot(adapterPre), adapterActivated: slot(adapterActivated), unscaledKeys: slot(unscaledKeys),
      unscaledValues: slot(unscaledValues), unscaledActivated: slot(unscaledActivated), dora: slot(doraSaved))
  }

  /// Where the head writes the final norm's output: layer 0's `normed1` when it is recomputed anyway, else a
  /// buffer of its own (layer 0's saved set must survive until its backward).
  var finalNormed: UnsafeMutablePointer<Float> { storesActivations ? finalNormedStore.pointer : normed1.pointer }
}
