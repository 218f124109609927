import ArgumentParser
import Training

/// `edgetune train selective`: fine-tune chosen existing tensors of the model and nothing else.
struct TrainSelective: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selective",
    abstract: "Selective fine-tuning: train fp32 copies of chosen existing tensors, nothing else.",
    discussion: """
      --tensors norms trains every RMSNorm weight (input_layernorm, post_attention_layernorm, model.norm): LayerNorm \
      tuning. --tensors head trains the output head alone (feature extraction; a head tied to the embedding is \
      untied: the copy alone trains). --tensors last-layers:K trains every matrix and norm of the last K layers. \
      The changed tensors alone are written to --out; `merge` writes them into a new model file, and \
      `generate/eval --adapter` apply them without merging.

      The copies cost about 16 bytes per weight with gradients and AdamW moments (`plan` shows how much): the \
      head of a 49k-token vocabulary ~450 MB, a SmolLM2 layer ~57 MB.
      """)

  @OptionGroup var training: TrainingOptions

  @Option(help: "Which tensors train: norms, head (the output head), or last-layers:K (the last K layers' weights).")
  var tensors: String = "norms"

  @OptionGroup var output: TrainingOutputOptions

  func validate() throws { _ = try Self.tensors(tensors) }

  func run() throws { try output.train(training, .selective(try Self.tensors(tensors))) }
}
