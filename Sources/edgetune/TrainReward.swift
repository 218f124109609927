import ArgumentParser
import Training

/// `edgetune train reward`: a reward model (base + LoRA + scalar score head) on ranked preference pairs.
struct TrainReward: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reward",
    abstract: "Train a reward model on preference pairs: LoRA on the frozen base plus a scalar score head.",
    discussion: """
      --data holds preference data in TRL's formats: {"prompt","chosen","rejected"}, implicit-prompt \
      {"chosen","rejected"}, their message-list forms, or ranked lists {"prompt","completions":[best, …, worst]} \
      (expanded into every ordered pair). --seq-len bounds each of chosen and rejected (prompt + completion); a pair \
      is scored in one row of twice that. The loss is −log σ(r_chosen − r_rejected − margin) with r read at each \
      sequence's last token. The result is a PEFT LoRA adapter with task_type SEQ_CLS and the `score` head in \
      modules_to_save; use it with `eval --reward`, `score --reward` and `train ppo --reward`.
      """)

  @OptionGroup var training: TrainingOptions
  @OptionGroup var lora: LoRAOptions
  @OptionGroup var output: TrainingOutputOptions

  @Option(help: "Margin in the ranking loss −log σ(r_c − r_r − margin).")
  var margin: Double = 0

  func run() throws { try output.train(training, try MethodRecipe.reward(lora, margin: margin, seed: training.seed)) }
}

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
    try output.train(training, try MethodRecipe.dpo(lora, preference, seed: training.seed))
  }
}
