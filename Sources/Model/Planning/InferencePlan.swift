public import Memory
public import Tensor

/// Memory plans of the runs that only read the model: generation and evaluation (a KV-cache session) and conversion
/// (one tensor at a time in fp32).
public enum InferencePlan {
  /// A KV-cache session of `capacity` positions, `chunk` tokens per forward, plus `adapterBytes` of LoRA (and DoRA's
  /// buffers for an adapter of `doraRank`), fitted to `budget` by streaming weights if needed.
  public static func session(
    model: LanguageModel, capacity: Int, chunk: Int, adapterBytes: Int = 0, doraRank: Int = 0, budget: Int?,
    workers: Int = Threading.workers
  ) -> (plan: MemoryPlan, policy: WeightResidency.Policy) {
    let c = model.config
    let weights = WeightPlan(model: model, workers: workers)
    let session = InferenceSession.plannedBytes(
      config: c, capacity: capacity, chunk: min(chunk, capacity), workers: workers, doraRank: doraRank)
    let notes = [
      "kv-cache": "\(c.layerCount) layers × \(capacity) positions × \(c.kvDim) keys and values, fp32",
      "activations": "one chunk of \(min(chunk, capacity)) tokens through one layer",
      "scratch": "attention scores and decode tiles (\(workers) workers)",
      "logits": "16 positions × \(c.vocabularySize) vocabulary at a time",
    ]
    var fixed = MemoryPlan.Line.ledger(session, order: ["kv-cache", "activations", "scratch", "logits"], notes: notes)
    if adapterBytes > 0 { fixed.append(MemoryPlan.Line("adapter", adapterBytes, .ledger, "LoRA A and B, fp32")) }
    return MemoryPlan.fitting(fixed: fixed + weights.runtimeLines(), weights: weights, budget: budget)
  }

  /// `convert`/`merge`/export: every tensor decoded whole to fp32 (the largest sets the peak), its output, and the
  /// source pages of that tensor (dropped after each one).
  public static func conversion(model: LanguageModel, budget: Int?) -> MemoryPlan {
    let w = model.weights
    let matrices = [w.embedding, w.head] + w.layers.flatMap(\.matrices)
    let largest = matrices.max { $0.rows * $0.cols < $1.rows * $1.cols }!
    let elements = largest.rows * largest.cols
    let weights = WeightPlan(model: model)
    var plan = MemoryPlan(
      lines: [
        MemoryPlan.Line(
          "convert-source", elements * 4, .ledger, "\(largest.name) decoded to fp32 (the largest tensor)"),
        MemoryPlan.Line(
          "convert-output", elements / 2 + elements / 32, .ledger,
          "its NF4 codes and block scales (fp16 output is up to 2 B per weight)"),
        MemoryPlan.Line("source pages", largest.storageBytes, .weights, "the tensor's stored bytes, dropped after it"),
      ] + weights.runtimeLines(),
      budget: budget, loadPeak: weights.loadPeakBytes)
    plan.addHeadroom()
    return plan
  }
}
