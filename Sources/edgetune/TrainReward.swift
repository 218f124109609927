import ArgumentParser
import Training

/// `edgetune train reward`: a reward model (base + LoRA + scalar score head) on ranked preference pairs.
struct TrainReward: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reward",
    abstract: "Train a reward model on preference pairs: LoRA on the frozen base plus a scalar score head.",
    discussion: """
      --data holds preference data in TRL's formats: {"prompt","chosen","rejected"}, implicit-prompt
      {"chosen","rejected"}, their message-list forms, or ranked lists {"prompt","completions":[best, …, worst]}
      (expanded into every ordered pair). --seq-len bounds each of chosen and rejected (prompt + completion); a pair
      is scored in one row of twice that. The loss is −log σ(r_chosen − r_rejected − margin) with r read at each
      sequence's last token. The result is a PEFT LoRA adapter with task_type SEQ_CLS and the `score` head in
      modules_to_save; use it with `eval --reward`, `score --reward` and `train ppo --reward`.
      """)

  @OptionGroup var training: TrainingOptions
  @OptionGroup var lora: LoRAOptions
  @OptionGroup var output: TrainingOutputOptions

  @Option(help: "Margin in the ranking loss −log σ(r_c − r_r − margin).")
  var margin: Double = 0

  func run() throws {
    var recipe = try MethodRecipe.lora(lora, seed: training.seed)
    let config = try LoRAConfig(
      rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, targets: try lora.targetList(),
      useRSLoRA: lora.rslora, seed: training.seed)
    recipe.name = "reward"
    recipe.summary = "a reward model (" + recipe.summary + " + score head)"
    recipe.defaultLearningRate = 1e-4
    recipe.objective = .reward(margin: margin)
    let plan = recipe.plan
    recipe.plan = { options in
      plan(&options)
      options.pairRows = true
      options.scoreHead = true
    }
    recipe.make = { model, ledger in
      try RewardModel(
        config: config, model: model.config, tokenizer: model.tokenizer.fingerprint, ledger: ledger)
    }
    try output.train(training, recipe)
  }
}

/// `edgetune train dpo`: direct preference optimization of a LoRA policy against the adapter-off base.
struct TrainDPO: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dpo",
    abstract: "DPO: tune a LoRA policy on preference pairs, the frozen base (adapter off) as the reference.",
    discussion: """
      Same data as `train reward`. The reference log-probabilities come from the same mapped base with the adapter
      switched off, computed once per pair on its first visit: no second model. Loss: sigmoid (−log σ(β·h)) or IPO
      ((h − 1/(2β))², per-token means), h = (policy − reference) log-ratio of chosen minus that of rejected, over the
      completion tokens. The report has held-out implicit-reward accuracy and margins. The result is a PEFT LoRA
      adapter for `generate --adapter`.
      """)

  @OptionGroup var training: TrainingOptions
  @OptionGroup var lora: LoRAOptions
  @OptionGroup var output: TrainingOutputOptions

  @Option(help: "β: the strength of the pull toward the reference (TRL's default 0.1).")
  var beta: Double = 0.1

  @Option(help: "Loss: sigmoid (DPO) or ipo.")
  var lossType: String = "sigmoid"

  func validate() throws {
    guard PreferenceLoss.DPOKind(rawValue: lossType) != nil else {
      throw ValidationError("--loss-type must be sigmoid or ipo, not '\(lossType)'")
    }
    guard beta > 0, beta.isFinite else { throw ValidationError("--beta must be positive") }
  }

  func run() throws {
    var recipe = try MethodRecipe.lora(lora, seed: training.seed)
    recipe.name = "dpo"
    recipe.summary = "DPO (β=\(beta), \(lossType)) of " + recipe.summary
    recipe.defaultLearningRate = 5e-5
    recipe.objective = .dpo(beta: beta, kind: PreferenceLoss.DPOKind(rawValue: lossType)!)
    recipe.report["beta"] = beta
    let plan = recipe.plan
    recipe.plan = { options in
      plan(&options)
      options.pairRows = true
    }
    try output.train(training, recipe)
  }
}
