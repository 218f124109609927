import ArgumentParser
import Training

/// `edgetune train ia3`: (IA)³, learned scaling vectors on keys, values and the MLP's down_proj input.
struct TrainIA3: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ia3",
    abstract: "IA3: learn one scaling vector per layer on keys, values and down_proj's input (the smallest adapter).",
    discussion: """
      The vectors start at 1 (the base model). Written to --out in PEFT's IA3 format (target_modules k_proj, v_proj,
      down_proj; down_proj in feedforward_modules); apply with `generate --adapter` / `eval --adapter`.
      """)

  @OptionGroup var training: TrainingOptions
  @OptionGroup var output: TrainingOutputOptions

  func run() throws { try output.train(training, .ia3(seed: training.seed)) }
}
