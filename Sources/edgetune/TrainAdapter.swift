import ArgumentParser
import Tensor
import Training

/// `edgetune train adapter`: bottleneck adapter layers inserted after attention and/or the MLP.
struct TrainAdapter: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "adapter",
    abstract: "Bottleneck adapters: small down/up projections added after attention and/or the MLP of every layer.",
    discussion: """
      Houlsby places an adapter after attention and after the MLP, Pfeiffer after the MLP only. Each is
      y + act(y W_down + b_down) W_up + b_up on the sublayer's output, bottleneck size hidden / --reduction-factor,
      W_up zero at the start (the model starts as the base). Written to --out as adapter_config.json (AdapterHub's
      BnConfig fields) + adapter_model.safetensors; apply with `generate --adapter` / `eval --adapter`. Adapters
      add layers, so they cannot be merged into the weights.
      """)

  @OptionGroup var training: TrainingOptions
  @OptionGroup var adapter: BottleneckOptions
  @OptionGroup var output: TrainingOutputOptions

  func run() throws {
    try output.train(training, try adapter.method(seed: training.seed))
  }
}

/// The bottleneck adapters' options.
struct BottleneckOptions: ParsableArguments {
  @Option(help: "Placement: houlsby (after attention and after the MLP) or pfeiffer (after the MLP only).")
  var architecture: String = "pfeiffer"

  @Option(help: "Hidden size / bottleneck size; must divide the model's hidden size.")
  var reductionFactor: Int = 16

  @Option(help: "Non-linearity between the projections: relu or silu (AdapterHub's swish).")
  var activation: String = "relu"

  func validate() throws { _ = try config() }

  func config() throws -> BottleneckConfig {
    guard let architecture = BottleneckConfig.Architecture(rawValue: architecture) else {
      throw ValidationError("--architecture must be houlsby or pfeiffer, not '\(architecture)'")
    }
    guard let activation = BottleneckActivation(rawValue: activation == "swish" ? "silu" : activation) else {
      throw ValidationError("--activation must be relu or silu, not '\(activation)'")
    }
    guard reductionFactor >= 1 else { throw ValidationError("--reduction-factor must be at least 1") }
    return BottleneckConfig(architecture: architecture, reductionFactor: reductionFactor, activation: activation)
  }
}
