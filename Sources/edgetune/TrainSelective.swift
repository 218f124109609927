import ArgumentParser

/// `edgetune train selective`: fine-tune chosen existing tensors of the model and nothing else.
struct TrainSelective: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selective",
    abstract: "Selective fine-tuning: train fp32 copies of chosen existing tensors (the norm weights), nothing else.",
    discussion: """
      --tensors norms trains every RMSNorm weight (input_layernorm, post_attention_layernorm, model.norm): LayerNorm
      tuning. The changed tensors alone are written to --out; `merge` writes them into a new model file, and
      `generate/eval --adapter` apply them without merging. (Head-only and last-K-layers selections are not built.)
      """)

  @OptionGroup var training: TrainingOptions

  @Option(help: "Which tensors train: norms.")
  var tensors: String = "norms"

  @OptionGroup var output: TrainingOutputOptions

  func validate() throws {
    guard tensors == "norms" else {
      throw ValidationError("--tensors \(tensors) matches nothing this version can train; use --tensors norms")
    }
  }

  func run() throws { try output.train(training, MethodRecipe.selectiveNorms()) }
}
