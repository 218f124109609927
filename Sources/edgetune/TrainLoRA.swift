import ArgumentParser

/// `edgetune train lora`: supervised LoRA (QLoRA when the base is an NF4 file) on JSONL data.
struct TrainLoRA: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lora",
    abstract: "LoRA fine-tuning on JSONL data ({\"text\"}, {\"prompt\",\"completion\"} or {\"messages\"}).",
    discussion: """
      The adapter is written to --out in PEFT's format (adapter_config.json, adapter_model.safetensors);
      checkpoints (adapter, optimizer state, data position) go to OUT.checkpoints/ every --save-every steps.
      """)

  @OptionGroup var options: LoRARunOptions
  @OptionGroup var output: TrainingOutputOptions

  func run() throws {
    try output.train(options.training, try options.lora.method(seed: options.seed))
  }
}
