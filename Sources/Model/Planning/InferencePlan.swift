public import Memory
public import Quantization
public import Tensor

/// Memory plans of the runs that only read the model: generation and evaluation (a KV-cache session) and conversion
/// (blocks of rows through decode, quantize and write).
public enum InferencePlan {
  /// A KV-cache session of `capacity` positions, `chunk` tokens per forward, plus `adapterBytes` of LoRA (and DoRA's
  /// buffers for an adapter of `doraRank`) and `extra` runtime lines, fitted to `budget` by streaming weights if
  /// needed.
  public static func session(
    model: LanguageModel, capacity: Int, chunk: Int, adapterBytes: Int = 0, doraRank: Int = 0,
    extra: [MemoryPlan.Line] = [], budget: Int?, workers: Int = Threading.workers
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
    return MemoryPlan.fitting(fixed: fixed + weights.runtimeLines(extra: extra), weights: weights, budget: budget)
  }

  /// What a conversion writes, for its plan.
  public enum ConversionOutput: Sendable {
    /// An NF4 file with these options (`convert -o x.nf4`).
    case nf4(NF4Converter.Options)
    /// .safetensors or .gguf with matrices of `type` (f32, f16, or a GGUF quantized type), `llamaCppOrder` for
    /// GGUF's Q/K rows.
    case dequantized(type: GGMLType, llamaCppOrder: Bool)
  }

  /// `convert`/`merge`/export: every matrix streamed in blocks of rows (`RowBlocks`), so the largest tensor no longer
  /// sets the peak: one block's fp32 values, its output, the source pages around it (the block's stored rows, a large
  /// folio either side, and an NF4 source's block scales, 1/32 of its codes, kept until the matrix is done), and for
  /// NF4 output the tensor's block scales and error terms (`NF4Converter.keptBytes`) until its double quantization.
  /// Each line is the maximum over the matrices, and names the one that sets it.
  public static func conversion(model: LanguageModel, to output: ConversionOutput, budget: Int?) -> MemoryPlan {
    var source = (bytes: 0, name: "")
    var produced = (bytes: 0, name: "")
    var pages = (bytes: 0, name: "")
    for weight in model.weights.named(config: model.config) {
      guard case .matrix(let m, let isEmbedding) = weight.kind else { continue }
      var granule = 1
      var outputBytes: (Int) -> Int = { _ in 0 }
      switch output {
      case .nf4(let options):
        switch isEmbedding ? options.embeddings : .nf4 {
        case .nf4:
          granule = RowBlocks.granule(cols: m.cols, blockSize: options.blockSize)
          let layout = NF4Quantizer.Layout(
            count: m.rows * m.cols, blockSize: options.blockSize, nestedBlockSize: options.nestedBlockSize)
          outputBytes = { ($0 + 1) / 2 + NF4Converter.keptBytes(layout) }
        case .f16: outputBytes = { $0 * 2 }
        case .f32: break
        }
      case .dequantized(let type, let llamaCppOrder):
        if llamaCppOrder, LlamaCppNames.rowOrder(weight.name, config: model.config) != nil {
          granule = model.config.headDim
        }
        let stored = ModelExporter.storedType(type, cols: m.cols)
        if stored != .f32 { outputBytes = { stored.byteCount(elements: $0) ?? 4 * $0 } }
      }
      let rows = RowBlocks.rowCount(rows: m.rows, cols: m.cols, granule: granule)
      func raise(_ line: inout (bytes: Int, name: String), _ bytes: Int) {
        if bytes > line.bytes { line = (bytes, weight.name) }
      }
      raise(&source, rows * m.cols * 4)
      raise(&produced, outputBytes(rows * m.cols))
      raise(
        &pages, (m.storageBytes * rows + m.rows - 1) / m.rows + 2 * WeightPlan.largestFolioBytes + m.storageBytes / 32)
    }
    let weights = WeightPlan(model: model)
    var plan = MemoryPlan(
      lines: [
        MemoryPlan.Line("convert-source", source.bytes, .ledger, "a block of \(source.name)'s rows decoded to fp32"),
        MemoryPlan.Line(
          "convert-output", produced.bytes, .ledger,
          "\(produced.name): a block's output" + (output.isNF4 ? ", the tensor's block scales and error terms" : "")),
        MemoryPlan.Line(
          "source pages", pages.bytes, .weights, "\(pages.name): a block's stored rows, dropped behind it"),
      ] + weights.runtimeLines(extra: output.isNF4 ? [outputHeaderLine(model)] : []),
      budget: budget, loadPeak: weights.loadPeakBytes)
    plan.addHeadroom()
    return plan
  }

  /// An NF4 file's header holds the tokenizer's JSON (SmolLM2's: 1.56 MB, 32 B a token) for the whole conversion: as
  /// text, quoted, and inside the header built around it, about four copies. Measured on SmolLM2 (kernel 6.18): a
  /// conversion to .nf4 peaks 5.1–6.2 MiB above one to .gguf beyond their ledgers' difference (NF4 or f16
  /// embeddings); planned as 136 B a token (6.4 MiB).
  static func outputHeaderLine(_ model: LanguageModel) -> MemoryPlan.Line {
    let tokens = model.tokenizer.vocabularySize
    return MemoryPlan.Line(
      "output header", tokens * 136, .runtime, "the tokenizer's JSON of \(tokens) tokens, 4 copies")
  }
}

extension InferencePlan.ConversionOutput {
  var isNF4: Bool {
    if case .nf4 = self { return true }
    return false
  }
}
