import ArgumentParser
import Formats
import Foundation
import Memory
import Model
import Training

/// `edgetune train lora`: supervised LoRA (QLoRA when the base is an NF4 file) on JSONL data.
struct TrainLoRA: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lora",
    abstract: "LoRA fine-tuning on JSONL data ({\"text\"}, {\"prompt\",\"completion\"} or {\"messages\"}).",
    discussion: """
      The adapter is written to --out in PEFT's format (adapter_config.json, adapter_model.safetensors);
      checkpoints (adapter, optimizer state, data position) go to OUT.checkpoints/ every --save-every steps.
      """)

  @OptionGroup var model: ModelOptions
  @OptionGroup var threads: ThreadOptions

  @Option(help: "Training data, JSONL; repeat for several sources, each FILE[:weight] (sampled by weight).")
  var data: [String]

  @Option(help: "Output directory for the adapter.")
  var out: String

  @Option(help: "Optimizer steps.")
  var steps: Int?

  @Option(help: "Epochs over the training tokens (instead of --steps).")
  var epochs: Double?

  @Option(help: "Tokens per sequence row.")
  var seqLen: Int = 256

  @Option(help: "Rows per batch.")
  var batch: Int = 1

  @Option(help: "Batches per optimizer step.")
  var gradAccum: Int = 1

  @Option(help: "Peak learning rate.")
  var lr: Double = 2e-4

  @Option(help: "Learning-rate schedule: cosine, linear or constant.")
  var schedule: String = "cosine"

  @Option(help: "Warm-up steps.")
  var warmup: Int = 0

  @Option(help: "AdamW weight decay.")
  var weightDecay: Double = 0

  @Option(help: "Clip the gradient's global L2 norm to this.")
  var maxGradNorm: Double = 1

  @Option(help: "LoRA rank.")
  var rank: Int = 8

  @Option(help: "LoRA alpha (scale alpha/rank, or alpha/sqrt(rank) with --rslora).")
  var alpha: Double = 16

  @Option(help: "LoRA dropout on the input of A (PEFT's lora_dropout).")
  var dropout: Double = 0

  @Flag(help: "rsLoRA scaling: alpha / sqrt(rank).")
  var rslora = false

  @Option(help: "Projections to adapt, comma-separated: q,k,v,o,gate,up,down.")
  var targets: String = "q,v"

  @Option(help: "Random seed (adapter initialization, data order).")
  var seed: UInt64 = 0

  @Option(help: "Held-out JSONL for evaluation (default: a split of the first --data source).")
  var val: String?

  @Option(help: "Fraction of the first source held out when --val is not given (0 for none).")
  var valFraction: Double = 0.05

  @Option(help: "Evaluate every N steps (0: only at the end).")
  var evalEvery: Int = 0

  @Option(help: "Checkpoint every N steps (0: none).")
  var saveEvery: Int = 0

  @Option(help: "Continue from a checkpoint directory (OUT.checkpoints/checkpoint-N).")
  var resume: String?

  @Option(help: "Write a JSON report of the run here.")
  var report: String?

  @Flag(help: "Compute the loss on prompts and template headers too.")
  var trainOnPrompt = false

  @Flag(help: "Skip malformed JSONL lines (counted) instead of stopping at the first.")
  var skipBadLines = false

  func validate() throws {
    guard (steps == nil) != (epochs == nil) else { throw ValidationError("give exactly one of --steps and --epochs") }
    if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
    if let epochs, !(epochs > 0) { throw ValidationError("--epochs must be positive") }
    guard seqLen >= 8, batch >= 1, gradAccum >= 1 else {
      throw ValidationError("--seq-len ≥ 8, --batch ≥ 1, --grad-accum ≥ 1")
    }
    guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") }
    guard LearningRateSchedule.Kind(rawValue: schedule) != nil else {
      throw ValidationError("--schedule must be cosine, linear or constant")
    }
    guard valFraction >= 0, valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
  }

  func run() throws {
    threads.apply()
    let wallStart = ContinuousClock.now
    try checkOutputWritable()
    let ledger = MemoryLedger()
    let lm = try ModelLoader.load(path: model.model)
    let loraConfig = try LoRAConfig(
      rank: rank, alpha: alpha, dropout: dropout,
      targets: try LoRAConfig.targets(named: targets.split(separator: ",").map(String.init)),
      useRSLoRA: rslora, seed: seed)
    // Data: every source tokenized up front, so bad input stops the run before any training.
    let encoder = ExampleEncoder(
      model: lm, options: DataOptions(seqLen: seqLen, trainOnPrompt: trainOnPrompt, skipBadLines: skipBadLines))
    var sources: [(dataset: JSONLDataset, weight: Double)] = []
    var validation: JSONLDataset?
    for (i, text) in data.enumerated() {
      let spec = try DataSourceSpec.parse(text)
      var dataset = try JSONLDataset.load(path: spec.path, encoder: encoder)
      Output.diagnostic("data \(spec.path): \(dataset.report.summary)")
      if i == 0 && val == nil && valFraction > 0 && dataset.count >= 20 {
        let parts = try dataset.split(fraction: valFraction, seed: seed)
        dataset = parts.train
        validation = parts.validation
      }
      sources.append((dataset, spec.weight))
    }
    if let val { validation = try JSONLDataset.load(path: val, encoder: encoder) }
    // Parsing JSONL leaves freed heap behind; give it back before the long phase starts.
    MallocTuning.trim()
    let tokensPerStep = batch * seqLen * gradAccum
    let totalSteps =
      steps
      ?? max(
        1,
        Int(
          (epochs! * Double(sources.reduce(0) { $0 + $1.dataset.report.tokens }) / Double(tokensPerStep)).rounded(.up)))

    var options = LoRATrainer.Options()
    options.steps = totalSteps
    options.seqLen = seqLen
    options.batchSize = batch
    options.gradientAccumulation = gradAccum
    options.learningRate = lr
    options.schedule = LearningRateSchedule.Kind(rawValue: schedule)!
    options.warmupSteps = warmup
    options.weightDecay = weightDecay
    options.maxGradientNorm = maxGradNorm
    options.evalEvery = evalEvery
    options.saveEvery = saveEvery
    let adapters = try LoRAAdapterSet(config: loraConfig, model: lm.config, ledger: ledger)
    let packer = try SequencePacker(batchSize: batch, seqLen: seqLen, model: lm)
    let stream = BatchStream(packer: packer, mixture: try DataMixture(sources: sources, seed: seed))
    let trainer = try LoRATrainer(
      model: lm, adapters: adapters, stream: stream, validation: validation, options: options, ledger: ledger)
    if let resume {
      try trainer.resume(from: resume, sources: sources, ledger: ledger)
      Output.diagnostic("resumed from \(resume) at step \(trainer.step)")
    }
    Output.diagnostic(
      "training LoRA r=\(rank) alpha=\(alpha) on \(loraConfig.targets.map(\.moduleName).joined(separator: ",")): "
        + "\(adapters.parameters.parameterCount) trainable parameters, \(totalSteps) steps of \(tokensPerStep) tokens; "
        + Output.ledgerLine(ledger))
    let evalBefore = trainer.step == 0 ? try trainer.evaluate() : nil
    if let evalBefore { Output.diagnostic(String(format: "held-out loss before training: %.4f", evalBefore)) }

    let checkpoints = out.hasSuffix("/") ? String(out.dropLast()) + ".checkpoints" : out + ".checkpoints"
    let bar = ProgressBar("train", total: totalSteps)
    var losses: [Double] = []
    var tokens = 0
    var trainSeconds = 0.0
    var peakAnon = 0
    var lastEval: Double? = nil
    while trainer.step < totalSteps {
      let r = try trainer.trainStep()
      losses.append(r.loss)
      tokens += r.tokens
      trainSeconds += r.seconds
      if let status = try? ProcStatus.current() { peakAnon = max(peakAnon, status.rssAnon) }
      if let e = r.evalLoss { lastEval = e }
      bar.update(
        r.step,
        detail: String(
          format: "step %d loss %.4f lr %.2e %.0f tok/s", r.step, r.loss, r.learningRate,
          Double(tokens) / max(trainSeconds, 1e-9))
          + (r.evalLoss.map { String(format: " eval %.4f", $0) } ?? ""))
      if saveEvery > 0, r.step % saveEvery == 0, r.step < totalSteps {
        _ = try trainer.saveCheckpoint(in: checkpoints)
      }
    }
    bar.finish()
    if lastEval == nil { lastEval = try trainer.evaluate() }
    try adapters.save(to: out, baseModel: model.model, overwrite: true)
    let status = try ProcStatus.current()
    peakAnon = max(peakAnon, status.rssAnon)
    let wall = (ContinuousClock.now - wallStart).seconds
    let snapshot = ledger.snapshot()
    let reportObject: [String: Any] = [
      "method": "lora", "steps": totalSteps, "tokens": tokens,
      "tokens_per_second": Double(tokens) / max(trainSeconds, 1e-9),
      "wall_seconds": wall, "train_seconds": trainSeconds, "peak_rss_bytes": status.vmHWM, "peak_anon_bytes": peakAnon,
      "ledger_peak_bytes": snapshot.peakBytes, "ledger_peak_bytes_by_label": snapshot.peakByLabel,
      "loss_first": losses.first ?? 0, "loss_last": losses.last ?? 0, "eval_loss": lastEval as Any,
      "eval_loss_before": evalBefore as Any, "trainable_parameters": adapters.parameters.parameterCount,
      "rank": rank, "alpha": alpha, "targets": loraConfig.targets.map(\.moduleName), "seq_len": seqLen, "batch": batch,
      "grad_accum": gradAccum, "lr": lr, "model": model.model, "adapter": out,
    ]
    if let report {
      let data = try JSONSerialization.data(withJSONObject: reportObject, options: [.prettyPrinted, .sortedKeys])
      let writer = try AtomicFileWriter(path: report)
      try writer.write(Array(data))
      try writer.finish()
    }
    Output.result(
      "adapter saved to \(out): \(totalSteps) steps, "
        + String(
          format: "loss %.4f → %.4f, held-out %@ → %@, %.0f tokens/s, ", losses.first ?? 0, losses.last ?? 0,
          evalBefore.map { String(format: "%.4f", $0) } ?? "-", lastEval.map { String(format: "%.4f", $0) } ?? "-",
          Double(tokens) / max(trainSeconds, 1e-9))
        + "peak RSS \(ByteCount.format(status.vmHWM)), peak anonymous \(ByteCount.format(peakAnon))")
  }

  /// Fails before any work when --out (or its parent, if it does not exist yet) cannot be written.
  func checkOutputWritable() throws {
    let url = URL(fileURLWithPath: out).standardizedFileURL
    var directory = url.path
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else { throw InputError("--out \(out) exists and is not a directory") }
      directory = url.deletingLastPathComponent().path
    } else {
      directory = url.deletingLastPathComponent().path
      guard FileManager.default.fileExists(atPath: directory) else {
        throw InputError("--out \(out): the directory \(directory) does not exist")
      }
    }
    // access(2) says yes to root everywhere; creating a file is the real test (procfs, read-only mounts, full disks).
    let probe = (directory as NSString).appendingPathComponent(".edgetune-write-test-\(getpid())")
    guard FileManager.default.createFile(atPath: probe, contents: Data("x".utf8)) else {
      throw InputError("--out \(out): cannot write in \(directory)")
    }
    try? FileManager.default.removeItem(atPath: probe)
  }
}
