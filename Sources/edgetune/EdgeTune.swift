import ArgumentParser
import Memory
import Tensor

/// The `edgetune` command: one root, one file per verb.
@main
struct EdgeTune: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "edgetune",
    abstract: "Fine-tune language models on machines with little memory.",
    discussion: """
      Base weights stay in memory-mapped files; only small trainable parts live in RAM.
      Results go to stdout (JSON with --json), progress and diagnostics to stderr.
      """,
    version: "0.1.0",
    subcommands: [
      Inspect.self, Tokenize.self, Generate.self, Eval.self, Score.self, Convert.self, Train.self, PlanCommand.self,
      ProfileCommand.self, ReportCommand.self, Merge.self, Bench.self,
      Synthesize.self,
    ]
  )

  /// Expands `--profile NAME` into the preset's options and attaches negative numbers to their options
  /// (`NegativeValues`) before parsing.
  /// Library errors name parameters; they reach the user with the flag's name (`FlagNames`), escaped and cut short
  /// (`Output.printable`).
  static func main() {
    InterruptCleanup.install()  // first: before any thread exists
    let arguments: [String]
    var command: any ParsableCommand
    do {
      arguments = NegativeValues.attached(try ProfilePresets.expand(Array(CommandLine.arguments.dropFirst())))
      command = try parseAsRoot(arguments)
    } catch {
      exit(withError: error)
    }
    do {
      try command.run()
    } catch {
      exit(withError: Output.printable(FlagNames.mapped(error)))
    }
  }
}

/// --model, shared by every verb that runs a model.
struct ModelOptions: ParsableArguments {
  @Option(name: .shortAndLong, help: "Model: a GGUF file, a .safetensors file or a Hugging Face model directory.")
  var model: String
}

/// --threads, shared by every verb that computes.
struct ThreadOptions: ParsableArguments {
  @Option(help: "Worker threads for matrix products and attention.")
  var threads: Int = 2

  func validate() throws {
    guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
  }

  /// Applies the thread count: our workers get `threads`, OpenBLAS runs single-threaded inside them.
  func apply() {
    Threading.configure(workers: threads)
    BLAS.setThreads(1)
    MallocTuning.setMmapThreshold()
  }
}
