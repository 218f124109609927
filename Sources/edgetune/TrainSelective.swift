import ArgumentParser

/// `edgetune train selective`: fine-tune chosen existing tensors of the model and nothing else.
struct TrainSelective: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selective",
    abstract: "Selective fine-tuning: train fp32 copies of chosen existing tensors, nothing else.",
    discussion: """
      --tensors norms trains every RMSNorm weight (input_layernorm, post_attention_layernorm, model.norm): LayerNorm
      tuning. --tensors last-layers:K trains every matrix and norm of the last K layers (their fp32 copies, with
      gradients and AdamW moments, cost about 16 bytes per weight: `plan` shows how much). The changed tensors alone
      are written to --out; `merge` writes them into a new model file, and `generate/eval --adapter` apply them
      without merging. (Head-only selection is not built: this model's head is tied to its embeddings.)
      """)

  @OptionGroup var training: TrainingOptions

  @Option(help: "Which tensors train: norms, or last-layers:K (the last K layers' matrices and norms).")
  var tensors: String = "norms"

  @OptionGroup var output: TrainingOutputOptions

  /// The number of layers of last-layers:K, nil for norms.
  static func selection(_ tensors: String) throws -> Int? {
    if tensors == "norms" { return nil }
    if tensors.hasPrefix("last-layers:"), let count = Int(tensors.dropFirst("last-layers:".count)), count >= 1 {
      return count
    }
    throw ValidationError(
      "--tensors \(tensors) matches nothing this version can train; use norms or last-layers:K (K ≥ 1)")
  }

  func validate() throws { _ = try Self.selection(tensors) }

  func run() throws {
    try output.train(
      training, try Self.selection(tensors).map(MethodRecipe.selectiveLayers) ?? MethodRecipe.selectiveNorms())
  }
}
