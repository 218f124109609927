import ArgumentParser
import Foundation
import Memory
import Model

/// `edgetune synthesize --tokenizer-from MODEL -o OUT.nf4`: a random Llama model of a chosen shape, written straight
/// as NF4 (a developer tool for memory and speed tests at sizes no cached model has; hidden from help).
struct Synthesize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a Llama model of random weights and a chosen shape as an NF4 file (developer tool).",
    discussion: """
      Every matrix holds Gaussian weights (mean 0, --std), generated and quantized in small chunks, so memory stays
      near one matrix's NF4 parts whatever the model's size; norm weights are 1. The defaults are TinyLlama-1.1B's
      shapes; the vocabulary, tokenizer, chat template and special tokens come from --tokenizer-from (SmolLM2's 49152
      tokens give ~1.1B parameters). The same options and seed give the same file, byte for byte.
      """,
    shouldDisplay: false)

  @Option(help: "Model whose tokenizer, chat template and special tokens the file gets (any format EdgeTune reads).")
  var tokenizerFrom: String

  @Option(name: .shortAndLong, help: "Output NF4 file (.nf4).")
  var output: String

  @Option(help: "Hidden size.")
  var hidden: Int = 2048

  @Option(help: "Intermediate (SwiGLU) size.")
  var intermediate: Int = 5632

  @Option(help: "Transformer layers.")
  var layers: Int = 22

  @Option(help: "Query heads.")
  var heads: Int = 32

  @Option(help: "Key/value heads (grouped-query attention); must divide --heads.")
  var kvHeads: Int = 4

  @Option(help: "Head dimension (default: hidden / heads).")
  var headDim: Int?

  @Option(help: "Context length (max_position_embeddings).")
  var context: Int = 2048

  @Option(help: "Vocabulary size (default: the tokenizer's; at least that).")
  var vocabulary: Int?

  @Flag(help: "Tie the output head to the embedding instead of storing its own matrix.")
  var tieEmbeddings = false

  @Option(help: "Standard deviation of the random weights.")
  var std: Float = 0.02

  @Option(help: "Random seed.")
  var seed: UInt64 = 0

  @Flag(help: "Print the report as JSON on stdout.")
  var json = false

  @OptionGroup var threads: ThreadOptions

  func validate() throws {
    guard output.hasSuffix(".nf4") else { throw ValidationError("-o must end in .nf4") }
    guard std > 0, std.isFinite else { throw ValidationError("--std must be a positive number") }
    guard URL(fileURLWithPath: tokenizerFrom).standardizedFileURL != URL(fileURLWithPath: output).standardizedFileURL
    else {
      throw ValidationError("-o must differ from --tokenizer-from")
    }
  }

  func run() throws {
    threads.apply()
    let start = ContinuousClock.now
    let source = try ModelLoader.load(path: tokenizerFrom)
    // Shape errors (heads not dividing, sizes out of range) come from the model's own checks: exit status 1.
    let config = try ModelConfig.llama(
      vocabularySize: vocabulary ?? source.tokenizer.vocabularySize, hiddenSize: hidden, intermediateSize: intermediate,
      layerCount: layers, headCount: heads, kvHeadCount: kvHeads, headDim: headDim, contextLength: context,
      tiedEmbeddings: tieEmbeddings, path: "synthesize options")
    var options = SyntheticModel.Options()
    options.seed = seed
    options.standardDeviation = std
    let ledger = MemoryLedger()
    let bar = ProgressBar("synthesize", total: 1000)
    let result = try SyntheticModel.write(
      config: config, tokenizerFrom: source, to: output, options: options, ledger: ledger
    ) { done, total in
      bar.update(done * 1000 / max(total, 1))
    }
    bar.finish()
    let seconds = (ContinuousClock.now - start).seconds
    let status = try ProcStatus.current()
    if json {
      let report = Result(
        output: output, tokenizerFrom: tokenizerFrom, parameters: result.parameters, tensors: result.tensors,
        fileBytes: result.fileBytes, quantizedBitsPerWeight: result.quantizedBitsPerWeight,
        fileBitsPerWeight: result.fileBitsPerWeight, seconds: seconds, seed: seed, std: Double(std),
        config: HuggingFaceConfig(config))
      try Output.json(CommandReport(report, memory: MemoryFigures(ledger: ledger, peakRSS: status.vmHWM)))
    } else {
      Output.result(
        "\(output): \(ByteCount.format(result.fileBytes)), \(result.parameters) parameters "
          + String(format: "(%.3f B) in %d tensors, ", Double(result.parameters) / 1e9, result.tensors)
          + String(
            format: "%.3f bits per quantized weight, %.3f bits per parameter overall, %.1f s",
            result.quantizedBitsPerWeight, result.fileBitsPerWeight, seconds))
    }
    Output.diagnostic(
      String(format: "synthesized in %.1f s; ", seconds) + Output.memoryLine() + "; " + ledger.peakLine())
  }

  /// `synthesize --json`: the file written, its size and bits per weight, the seed and spread of the weights, and
  /// the configuration as config.json gives it.
  struct Result: Codable {
    var output: String
    var tokenizerFrom: String
    var parameters: Int
    var tensors: Int
    var fileBytes: Int
    var quantizedBitsPerWeight: Double
    var fileBitsPerWeight: Double
    var seconds: Double
    var seed: UInt64
    var std: Double
    var config: HuggingFaceConfig

    enum CodingKeys: String, CodingKey {
      case output, parameters, tensors, seconds, seed, std, config
      case tokenizerFrom = "tokenizer_from"
      case fileBytes = "file_bytes"
      case quantizedBitsPerWeight = "quantized_bits_per_weight"
      case fileBitsPerWeight = "file_bits_per_weight"
    }
  }
}
