import ArgumentParser
import Formats
import Foundation
import Memory
import Model

/// `edgetune convert INPUT -o OUTPUT`: to NF4 (`.nf4`) from any model EdgeTune reads, or back to fp16/fp32
/// (`.safetensors` with config and tokenizer beside it, or `.gguf`).
struct Convert: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Quantize a model to NF4 or dequantize it; turn a LoRA adapter into llama.cpp's GGUF or back.",
    discussion: """
      The direction follows OUTPUT's extension:
        .nf4          quantize INPUT (GGUF, safetensors, Hugging Face directory or .nf4) to NF4 with double
                      quantization, as bitsandbytes does it (QLoRA)
        .safetensors  dequantize to --dtype; config.json, tokenizer.json and tokenizer_config.json are written beside it
        .gguf         a llama.cpp GGUF file in --dtype: f32, f16, or one of llama.cpp's quantized types
      An adapter INPUT (a PEFT LoRA directory, or a llama.cpp LoRA adapter .gguf) needs its base model (--model):
        .gguf         llama.cpp's LoRA adapter, for `llama-cli -m BASE.gguf --lora OUT.gguf`; an Ollama Modelfile
                      (FROM the base, ADAPTER the file) is written beside it as OUT.Modelfile
        a directory   PEFT's adapter_config.json + adapter_model.safetensors
      Tensors are converted one at a time in blocks of rows, so memory does not grow with the largest tensor. The
      output appears only when complete (written to a temporary file, synced, then renamed).
      """)

  @Argument(help: "The model to convert.")
  var input: String

  @Option(name: .shortAndLong, help: "Output file: .nf4, .safetensors or .gguf; for an adapter, .gguf or a directory.")
  var output: String

  @Option(help: "The base model of an adapter INPUT (its shapes, architecture and Q/K layout).")
  var model: String?

  @Option(help: "NF4 block size (weights per absmax).")
  var blockSize: Int = 64

  @Option(help: "Blocks per second-level scale in double quantization.")
  var nestedBlockSize: Int = 256

  @Flag(help: "Store block scales as fp32 instead of double-quantizing them.")
  var noDoubleQuant = false

  @Option(help: "Storage of the embeddings and an untied output head in .nf4 output: nf4, f16 or f32.")
  var embeddings: String = "nf4"

  @Option(
    help: """
      Element type of .safetensors output (f32, f16) or .gguf output (also q8_0, q6_k, q5_k, q5_1, q5_0, q4_k, q4_1, \
      q4_0: llama.cpp's quantizers, as llama-quantize --pure).
      """)
  var dtype: String = "f32"

  @Flag(
    help: """
      Measure what the conversion costs: perplexity of INPUT and of OUTPUT on a built-in English sample. Done \
      anyway when INPUT is quantized already (7 bits per weight or less) and OUTPUT is .nf4.
      """)
  var check = false

  @Flag(help: "Print the report as JSON on stdout.")
  var json = false

  @OptionGroup var threads: ThreadOptions
  @OptionGroup var budget: BudgetOptions

  enum Direction { case nf4, safetensors, gguf }

  var direction: Direction? {
    if output.hasSuffix(".nf4") { return .nf4 }
    if output.hasSuffix(".safetensors") { return .safetensors }
    if output.hasSuffix(".gguf") { return .gguf }
    return nil
  }

  func validate() throws {
    if inputIsAdapter { return try validateAdapterConversion() }
    guard model == nil else { throw ValidationError("--model is for converting an adapter; \(input) is a model") }
    guard direction != nil else { throw ValidationError("-o must end in .nf4, .safetensors or .gguf") }
    guard blockSize >= 2, blockSize <= 4096, blockSize % 2 == 0 else {
      throw ValidationError("--block-size must be an even number from 2 to 4096")
    }
    guard nestedBlockSize >= 1, nestedBlockSize <= 65536 else {
      throw ValidationError("--nested-block-size must be 1 to 65536")
    }
    guard NF4Converter.Options.EmbeddingStorage(rawValue: embeddings) != nil else {
      throw ValidationError("--embeddings must be nf4, f16 or f32")
    }
    _ = try OutputType.parse(dtype, output: output)
    guard URL(fileURLWithPath: input).standardizedFileURL != URL(fileURLWithPath: output).standardizedFileURL else {
      throw ValidationError("-o must differ from the input")
    }
  }

  func run() throws {
    threads.apply()
    if inputIsAdapter { return try convertAdapter() }
    try OutputPath.requireCreatable(output, as: .file)
    let start = ContinuousClock.now
    let model = try ModelLoader.load(path: input)
    var options = NF4Converter.Options()
    options.blockSize = blockSize
    options.nestedBlockSize = nestedBlockSize
    options.doubleQuantization = !noDoubleQuant
    options.embeddings = NF4Converter.Options.EmbeddingStorage(rawValue: embeddings)!
    let elementType = try OutputType.parse(dtype, output: output)
    let plan = InferencePlan.conversion(
      model: model,
      to: direction! == .nf4 ? .nf4(options) : .dequantized(type: elementType, llamaCppOrder: direction! == .gguf),
      budget: budget.bytes)
    try plan.requireFits(what: "converting \(input)")
    let sourceBits = QuantizationCheck.bitsPerWeight(model)
    let requantized = direction! == .nf4 && sourceBits <= QuantizationCheck.quantizedSourceBits
    // The quality check is a phase of its own after the conversion: asked for, it must fit the budget before any
    // work; done by default (a 4-bit source to NF4), it is left out when it does not fit, and the warning says so.
    let checkPlan = check || requantized ? QuantizationCheck.plan(source: model, budget: budget.bytes) : nil
    if check { try checkPlan?.plan.requireFits(what: "the quality check (--check)") }
    let ledger = MemoryLedger(budget: plan.ledgerBudget)
    let bar = ProgressBar("convert", total: 100)
    var report = Result(input: input, output: output, fileBytes: 0)
    switch direction! {
    case .nf4:
      let result = try NF4Converter.convert(model, to: output, options: options, ledger: ledger) { done, total in
        bar.update(done * 100 / max(total, 1))
      }
      bar.finish()
      report.fileBytes = result.fileBytes
      report.quantizedBitsPerWeight = result.quantizedBitsPerWeight
      report.fileBitsPerWeight = result.fileBitsPerWeight
      report.tensors = result.tensors.map {
        .init(name: $0.name, shape: $0.shape, storage: $0.storage, bytes: $0.bytes, relativeRMSE: $0.relativeRMSE)
      }
      if !json {
        for t in result.tensors {
          Output.result(
            t.name.padding(toLength: 48, withPad: " ", startingAt: 0) + " "
              + t.storage.padding(toLength: 4, withPad: " ", startingAt: 0)
              + String(format: " %10d bytes  rel. RMSE %.4f", t.bytes, t.relativeRMSE))
        }
        Output.result(
          "\(output): \(ByteCount.format(result.fileBytes)), "
            + String(
              format: "%.3f bits per quantized weight, %.3f bits per parameter overall", result.quantizedBitsPerWeight,
              result.fileBitsPerWeight))
      }
    case .safetensors, .gguf:
      let exporter = ModelExporter(model: model, type: elementType)
      let bytes =
        try direction! == .gguf
        ? exporter.writeGGUF(to: output, ledger: ledger) { done, total in bar.update(done * 100 / max(total, 1)) }
        : exporter.writeSafetensors(to: output, ledger: ledger) { done, total in bar.update(done * 100 / max(total, 1))
        }
      bar.finish()
      report.fileBytes = bytes
      report.dtype = dtype
      if !json { Output.result("\(output): \(ByteCount.format(bytes)) (\(dtype))") }
    }
    if let checkPlan, checkPlan.plan.fits {
      let output = try LanguageModel(path: output)
      // One window of the sample in an inference session: a few MiB (KV cache, scratch), after the conversion's
      // buffers are gone.
      let measured = try QuantizationCheck.measure(
        source: model, output: output, ledger: MemoryLedger(budget: checkPlan.plan.ledgerBudget),
        policy: checkPlan.policy)
      report.check = measured
      let figures = String(
        format: "perplexity on a built-in sample (%d tokens): %.3f → %.3f (%+.1f%%)", measured.tokens,
        measured.sourcePerplexity, measured.outputPerplexity, measured.changePercent)
      if requantized {
        Output.diagnostic(requantizationWarning(sourceBits: sourceBits) + " " + figures + ".")
      } else if !json {
        Output.result(figures)
      }
    } else if let checkPlan {
      Output.diagnostic(
        requantizationWarning(sourceBits: sourceBits) + " (The perplexity check was left out: it needs about "
          + "\(ByteCount.format(checkPlan.plan.total)) and --budget is \(ByteCount.format(checkPlan.plan.budget ?? 0)).)"
      )
    }
    let seconds = (ContinuousClock.now - start).seconds
    let status = try ProcStatus.current()
    if json {
      report.seconds = seconds
      try Output.json(CommandReport(report, memory: MemoryFigures(ledger: ledger, peakRSS: status.vmHWM)))
    }
    Output.diagnostic(
      String(format: "converted in %.1f s; ", seconds) + Output.memoryLine() + "; " + ledger.peakLine())
    try budget.requireKept()
  }

  /// What converting a quantized source to NF4 does to it, and what to do instead.
  func requantizationWarning(sourceBits: Double) -> String {
    "warning: \(input) is quantized already (" + String(format: "%.2f", sourceBits)
      + " bits per weight); NF4 quantizes its weights a second time. Every verb reads the source directly "
      + "(--model \(input)): train, generate and eval on it to lose nothing; NF4 is for "
      + "fp16/bf16/fp32 sources."
  }
}
