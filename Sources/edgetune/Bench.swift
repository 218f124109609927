import ArgumentParser
import Foundation
import Memory
import Model
import Tensor

/// `edgetune bench`: llama-bench-style throughput figures (prompt processing ppN, generation tgN), peak memory, and
/// this CPU's sgemm bound, so speed can be compared with other tools on the same machine.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure prompt-processing and generation speed and peak memory (like llama-bench pp/tg).")

  @Option(name: .shortAndLong, help: "Model: a GGUF, NF4 or safetensors file, or a Hugging Face model directory.")
  var model: String = ""
  @OptionGroup var threads: ThreadOptions

  @Option(help: "Prompt tokens processed in one forward pass (ppN).")
  var promptTokens: Int = 256

  @Option(help: "Tokens generated one at a time from an empty context (tgN).")
  var generateTokens: Int = 32

  @Option(help: "Repetitions of each measurement; the report gives the median and the range.")
  var repeats: Int = 3

  @Flag(help: "Print JSON on stdout.")
  var json = false

  @Flag(help: "Measure the decode kernels on one thread instead of a model: GB/s per core, decode+GEMM vs GEMM.")
  var kernels = false

  func validate() throws {
    guard promptTokens >= 1, generateTokens >= 1, repeats >= 1 else {
      throw ValidationError("--prompt-tokens, --generate-tokens and --repeats must be at least 1")
    }
  }

  func run() throws {
    threads.apply()
    if kernels { return try runKernels() }
    guard !model.isEmpty else { throw ValidationError("--model is required (or use --kernels)") }
    let lm = try ModelLoader.load(path: model)
    guard promptTokens <= lm.config.contextLength, generateTokens <= lm.config.contextLength else {
      throw ValidationError("--prompt-tokens and --generate-tokens must fit the context of \(lm.config.contextLength)")
    }
    // Deterministic prompt: ordinary text tokens repeated to length (llama-bench uses random ids; text is as good).
    let seedText = lm.tokenizer.encode(
      "The lighthouse keeper wrote in the logbook every evening, noting the wind, the tide and the ships that passed. ")
    let prompt = (0..<promptTokens).map { seedText[$0 % seedText.count] }
    let ledger = MemoryLedger()
    let session = try InferenceSession(
      model: lm, capacity: max(promptTokens, generateTokens), chunk: promptTokens, ledger: ledger)

    var promptRates: [Double] = []
    var generationRates: [Double] = []
    for r in 0..<repeats {
      session.reset()
      let start = ContinuousClock.now
      try session.forward(prompt, logits: .last) { _, _ in }
      promptRates.append(Double(promptTokens) / (ContinuousClock.now - start).seconds)

      session.reset()
      var token = prompt[0]
      let genStart = ContinuousClock.now
      for _ in 0..<generateTokens {
        try session.forward([token], logits: .last) { _, logits in token = Int32(argmax(logits)) }
      }
      generationRates.append(Double(generateTokens) / (ContinuousClock.now - genStart).seconds)
      Output.diagnostic(
        String(
          format: "run %d/%d: pp%d %.1f tokens/s, tg%d %.1f tokens/s", r + 1, repeats, promptTokens,
          promptRates.last!, generateTokens, generationRates.last!))
    }
    let gflops = Self.sgemmGFLOPs()
    let status = try ProcStatus.current()
    let pp = Summary(promptRates)
    let tg = Summary(generationRates)
    if json {
      let result = Result(
        model: model, threads: threads.threads, promptTokens: promptTokens, generateTokens: generateTokens,
        ppTokensPerSecond: pp.median, ppMin: pp.minimum, ppMax: pp.maximum, tgTokensPerSecond: tg.median,
        tgMin: tg.minimum, tgMax: tg.maximum, rssAnonBytes: status.rssAnon, rssFileBytes: status.rssFile,
        sgemmGFLOPs: gflops, weightBytes: lm.weightStorageBytes)
      try Output.json(CommandReport(result, memory: MemoryFigures(ledger: ledger, peakRSS: status.vmHWM)))
    } else {
      Output.result(String(format: "pp%d: %.1f tokens/s (%.1f–%.1f)", promptTokens, pp.median, pp.minimum, pp.maximum))
      Output.result(
        String(format: "tg%d: %.1f tokens/s (%.1f–%.1f)", generateTokens, tg.median, tg.minimum, tg.maximum))
      Output.result(
        "peak RSS \(ByteCount.format(status.vmHWM)) (anonymous \(ByteCount.format(status.rssAnon)), file-backed "
          + "\(ByteCount.format(status.rssFile))); weights \(ByteCount.format(lm.weightStorageBytes))")
      Output.result(String(format: "sgemm bound: %.1f GFLOP/s on %d thread(s)", gflops, threads.threads))
    }
  }

  /// `--kernels`: one thread, so the figures are per core.
  func runKernels() throws {
    Threading.configure(workers: 1)
    BLAS.setThreads(1)
    let (figures, tiled, plain) = KernelBench.decodeFigures()
    if json {
      try Output.json(KernelResult(decode: figures, tiledProductGFLOPs: tiled, plainSgemmGFLOPs: plain))
      return
    }
    Output.result("decode to fp32, one core, 576×1536 matrix:")
    for f in figures {
      Output.result(
        "  " + f.name.padding(toLength: 22, withPad: " ", startingAt: 0)
          + String(format: "%6.2f GB/s packed input   %6.2f G weights/s", f.packedGBPerSecond, f.weightsPerSecond / 1e9)
      )
    }
    Output.result(
      String(
        format:
          "256 tokens × NF4 576×1536 through decoded tiles: %.1f GFLOP/s; plain sgemm on fp32 weights: %.1f GFLOP/s (%.0f%%)",
        tiled, plain, 100 * tiled / max(plain, 1e-9)))
  }

  struct Summary {
    var median: Double, minimum: Double, maximum: Double
    init(_ values: [Double]) {
      let sorted = values.sorted()
      median = sorted[sorted.count / 2]
      minimum = sorted.first!
      maximum = sorted.last!
    }
  }

  /// OpenBLAS sgemm throughput on a 512×1024×1024 product with all threads: the compute bound of this CPU.
  static func sgemmGFLOPs() -> Double {
    let m = 512
    let n = 1024
    let k = 1024
    let a = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
    let b = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
    defer {
      a.deallocate()
      b.deallocate()
      c.deallocate()
    }
    for i in 0..<(m * k) { a[i] = Float(i % 7) * 0.1 }
    for i in 0..<(n * k) { b[i] = Float(i % 5) * 0.1 }
    BLAS.setThreads(Threading.workers)
    defer { BLAS.setThreads(1) }
    BLAS.gemmABt(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: c, ldc: n)  // warm-up
    let start = ContinuousClock.now
    let rounds = 5
    for _ in 0..<rounds { BLAS.gemmABt(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: c, ldc: n) }
    return 2.0 * Double(m * n * k * rounds) / (ContinuousClock.now - start).seconds / 1e9
  }
}
