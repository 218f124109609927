import ArgumentParser
import Training

/// `edgetune train dpo`: direct preference optimization of a LoRA policy against the adapter-off base.
struct TrainDPO: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dpo",
    abstract: "DPO: tune a LoRA policy on preference pairs, the frozen base (adapter off) as the reference.",
    discussion: """
      Same data as `train reward`. The reference log-probabilities come from the same mapped base with the adapter \
      switched off, computed once per pair on its first visit: no second model. Loss: sigmoid (−log σ(β·h)) or IPO \
      ((h − 1/(2β))², per-token means), h = (policy − reference) log-ratio of chosen minus that of rejected, over the \
      completion tokens. The report has held-out implicit-reward accuracy and margins. The result is a PEFT LoRA \
      adapter for `generate --adapter`.
      """)

  @OptionGroup var training: TrainingOptions
  @OptionGroup var lora: LoRAOptions
  @OptionGroup var output: TrainingOutputOptions

  @OptionGroup var preference: DPOOptions

  func run() throws {
    try output.train(training, try preference.method(lora, seed: training.seed))
  }
}
