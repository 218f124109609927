import ArgumentParser
import Training

/// `edgetune train prompt`: prompt tuning, a soft prompt of virtual tokens trained before every input.
struct TrainPrompt: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "prompt",
    abstract: "Prompt tuning: train a soft prompt (virtual-token embeddings) placed before every input.",
    discussion: """
      Only the soft prompt trains (--virtual-tokens × hidden size numbers); the base stays frozen. It is written to
      --out in PEFT's prompt-tuning format (peft_type PROMPT_TUNING, "prompt_embeddings"); use it with
      `generate --adapter` and `eval --adapter`. A soft prompt cannot be merged into the weights.
      """)

  @OptionGroup var training: TrainingOptions
  @OptionGroup var prompt: PromptOptions
  @OptionGroup var output: TrainingOutputOptions

  func run() throws {
    try output.train(training, try prompt.method(seed: training.seed))
  }
}

/// The soft prompt's options.
struct PromptOptions: ParsableArguments {
  @Option(help: "Virtual tokens: the soft prompt's length (each is one embedding of the model's hidden size).")
  var virtualTokens: Int = 20

  @Option(
    name: .customLong("init"),
    help: ArgumentHelp(
      "How the prompt starts: text, sample or random.",
      discussion: """
        text copies the embeddings of --init-text's tokens (truncated or repeated to --virtual-tokens); sample \
        copies those of random vocabulary tokens; random draws N(0, 1), PEFT's RANDOM. Default: text when \
        --init-text is given, else sample.
        """))
  var initMode: String?

  @Option(help: "Text whose token embeddings start the prompt (for --init text).")
  var initText: String?

  func validate() throws {
    guard virtualTokens >= 1 else { throw ValidationError("--virtual-tokens must be at least 1") }
    _ = try initialization()
  }

  /// The initialization asked for: --init, or text when --init-text is given, else sample.
  func initialization() throws -> SoftPrompt.Initialization {
    switch initMode ?? (initText == nil ? "sample" : "text") {
    case "text":
      guard let initText, !initText.isEmpty else {
        throw ValidationError("--init text needs --init-text \"…\" (the words the prompt starts from)")
      }
      return .text(initText)
    case "sample", "random":
      if initText != nil { throw ValidationError("--init-text is only used with --init text") }
      return initMode == "random" ? .random : .sampledVocabulary
    case let other: throw ValidationError("--init must be text, sample or random, not '\(other)'")
    }
  }
}
