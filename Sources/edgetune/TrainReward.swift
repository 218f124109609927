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

  func run() throws { try output.train(training, try rewardMethod(lora, margin: margin, seed: training.seed)) }
}
