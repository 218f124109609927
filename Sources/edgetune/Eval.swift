import ArgumentParser
import Formats
import Foundation
import Memory
import Model
import Training

/// `edgetune eval`: perplexity over a text file, or task accuracy and loss over a JSONL dataset.
struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Perplexity over a text file (--text), or exact-match accuracy and mean loss over JSONL data (--data).",
    discussion: """
      --reward RM --data pairs.jsonl: a reward model's pairwise accuracy (r_chosen > r_rejected) and mean margin \
      on preference pairs (the formats `train reward` reads).

      --text: mean cross-entropy and perplexity, in windows of the context length.

      --data: for every prompt/completion record or conversation ending in an assistant turn, a greedy answer is \
      compared with the reference after trimming whitespace (exact_match); mean_loss is the loss of the reference \
      tokens, as in training.
      """)

  @OptionGroup var model: ModelOptions
  @OptionGroup var threads: ThreadOptions
  @OptionGroup var adapterOptions: AdapterOptions
  @OptionGroup var budget: BudgetOptions

  @Option(help: "A UTF-8 text file to score.")
  var text: String?

  @Option(help: "A JSONL dataset to score ({\"prompt\",\"completion\"} or {\"messages\"}).")
  var data: String?

  @Option(help: "With --data: evaluate at most this many examples.")
  var limit: Int?

  @Option(help: "With --text: write the logits of every position of the first window here (little-endian fp32 rows).")
  var dumpLogits: String?

  @Option(help: "Window length in tokens (default: the model's context length).")
  var context: Int?

  @Flag(
    help: """
      With --text: score as llama.cpp's llama-perplexity does, so its figure compares with ours: chunks of \
      --context tokens (the tail dropped, at least two chunks), BOS first in each when the model adds one, only the \
      second half of each chunk scored.
      """)
  var asLlamaPerplexity = false

  @Flag(help: "Print JSON (mean_loss, perplexity, tokens) on stdout.")
  var json = false

  @Option(help: "With --data: a reward model (from `train reward`) to evaluate on preference pairs instead.")
  var reward: String?

  @Flag(
    help: """
      With --data: render plain {"prompt", "completion"} pairs as raw text (as `train --raw-pairs` trains them) \
      instead of through the model's chat template.
      """)
  var rawPairs = false

  @Option(help: "With --reward: longest chosen or rejected sequence in tokens.")
  var seqLen: Int = 256

  func validate() throws {
    if let context, context < 2 { throw ValidationError("--context must be at least 2, got \(context)") }
    if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
    guard seqLen >= 2 else { throw ValidationError("--seq-len must be at least 2, got \(seqLen)") }
    if asLlamaPerplexity {
      guard text != nil, context != nil else {
        throw ValidationError("--as-llama-perplexity scores --text in chunks of --context tokens: give both")
      }
      guard adapterOptions.virtualTokenCount == nil else {
        throw ValidationError("--as-llama-perplexity does not apply a soft prompt (llama.cpp has none)")
      }
    }
    guard (text == nil) != (data == nil) else { throw ValidationError("give exactly one of --text and --data") }
    if reward != nil {
      guard data != nil else { throw ValidationError("--reward evaluates preference pairs: give them with --data") }
      guard adapterOptions.adapter == nil else { throw ValidationError("give --reward or --adapter, not both") }
    }
  }

  func run() throws {
    threads.apply()
    try evaluate()
    try budget.requireKept()
  }

  /// The command's work (text, a dataset or a reward model), before the budget's final check.
  func evaluate() throws {
    if let reward, let data { return try evaluateReward(reward, data: data) }
    if let data { return try evaluateDataset(data) }
    let text = self.text!
    let data = try InputFile.read(text, what: "--text")
    guard let body = String(data: data, encoding: .utf8) else {
      throw InputError("--text \(text) is not valid UTF-8")
    }
    let lm = try ModelLoader.load(path: model.model)
    let ids = lm.encodePrompt(body)
    guard ids.count >= 2 else { throw InputError("--text \(text) has fewer than 2 tokens; nothing to score") }
    let window = min(context ?? lm.config.contextLength, lm.config.contextLength)
    let ledger = try budget.apply(
      InferencePlan.session(
        model: lm, capacity: min(window, ids.count), chunk: 128, adapterBytes: adapterOptions.plannedBytes,
        budget: budget.bytes),
      to: lm, what: "evaluation")
    let adapter = try adapterOptions.load(for: lm, ledger: ledger)
    let prefix = adapter?.inputPrefix ?? []
    let capacity = min(window, ids.count + prefix.count)
    guard capacity > prefix.count + 1 else {
      throw InputError("--context \(window) leaves no room after the soft prompt's \(prefix.count) virtual tokens")
    }
    let session = try InferenceSession(
      model: lm, capacity: capacity, chunk: 128, adapter: adapter?.lora, ledger: ledger)
    session.apply(adapter)
    let start = ContinuousClock.now
    if let dumpLogits {
      try writeLogits(ids: Array(ids.prefix(capacity - prefix.count)), prefix: prefix, session: session, to: dumpLogits)
    }
    let progress = { (done: Int) in Output.diagnostic("eval: \(done)/\(ids.count) tokens") }
    let result =
      asLlamaPerplexity
      ? try evaluatePerplexityAsLlamaCpp(
        ids: ids, chunk: window, bos: lm.tokenizer.addBOS ? lm.tokenizer.bosID : nil, session: session,
        progress: progress)
      : try evaluatePerplexity(ids: ids, window: capacity, prefix: prefix, session: session, progress: progress)
    let seconds = (ContinuousClock.now - start).seconds
    if json {
      let figures = TextResult(
        meanLoss: result.meanLoss, perplexity: result.perplexity, tokens: result.tokens, predicted: result.predicted,
        context: window, tokensPerSecond: Double(result.tokens) / max(seconds, 1e-9))
      try Output.json(CommandReport(figures, memory: MemoryFigures(ledger: ledger)))
    } else {
      Output.result(
        String(
          format: "mean loss %.6f, perplexity %.4f over %d tokens (%d predicted, windows of %d)", result.meanLoss,
          result.perplexity, result.tokens, result.predicted, window))
    }
    Output.diagnostic(
      String(format: "%.1f tokens/s; ", Double(result.tokens) / max(seconds, 1e-9)) + Output.memoryLine() + "; "
        + ledger.peakLine())
  }

  /// Every position's logits of one window, for comparisons with other tools (Tools/check-peft); a soft prompt's
  /// virtual tokens go first and their positions are left out.
  func writeLogits(ids: [Int32], prefix: [Int32], session: InferenceSession, to path: String) throws {
    let writer = try AtomicFileWriter(path: path)
    session.reset()
    try session.forward(prefix + ids, logits: .all) { index, logits in
      if index >= prefix.count { try writer.write(UnsafeRawBufferPointer(logits)) }
    }
    session.reset()
    try writer.finish()
  }

  /// --data: exact match of greedy answers and mean loss of the reference tokens.
  func evaluateDataset(_ path: String) throws {
    let lm = try ModelLoader.load(path: model.model)
    // The loss pass (a training graph of 512 positions, forward only) outweighs the exact-match session.
    let graphBytes = TrainingGraph.plannedBytes(
      config: lm.config, capacity: min(512, lm.config.contextLength), rank: 1, logitRows: 32, workers: threads.threads)
    let weights = WeightPlan(model: lm)
    let order = graphBytes.keys.sorted()
    let fixed =
      MemoryPlan.Line.ledger(
        graphBytes, order: order, notes: Dictionary(uniqueKeysWithValues: order.map { ($0, "loss pass") }))
      + [MemoryPlan.Line("adapter", adapterOptions.plannedBytes, .ledger, "the adapter's tensors")]
      + weights.runtimeLines(extra: [
        MemoryPlan.Line("data", 2 * fileSize(atPath: path), .runtime, "tokenized examples")
      ])
    let ledger = try budget.apply(
      MemoryPlan.fitting(fixed: fixed, weights: weights, budget: budget.bytes), to: lm, what: "evaluation")
    let adapter = try adapterOptions.load(for: lm, ledger: ledger)
    let pairs = PairRendering(template: lm.chatTemplate, raw: rawPairs)
    Output.diagnostic("data: " + pairs.description)
    var cases = try ExactMatch.cases(path: path, template: lm.chatTemplate, pairs: pairs)
    if let limit { cases = Array(cases.prefix(limit)) }
    guard !cases.isEmpty else { throw InputError("\(path): no prompt/completion or conversation records to evaluate") }
    let start = ContinuousClock.now
    let bar = ProgressBar("eval", total: cases.count)
    let accuracy = try ExactMatch.evaluate(cases, model: lm, method: adapter, ledger: ledger) { bar.update($0) }
    bar.finish()
    var dataset = try JSONLDataset.load(
      path: path,
      encoder: ExampleEncoder(
        model: lm,
        options: DataOptions(
          seqLen: 512, virtualTokens: adapter?.virtualTokens?.virtualTokenCount ?? 0, rawPairs: rawPairs)))
    if let limit, dataset.count > limit { dataset = dataset.subset(Array(0..<limit)) }
    let graph = try TrainingGraph(
      model: lm, capacity: min(512, lm.config.contextLength), maximumRank: adapter?.lora?.maximumRank ?? 1,
      logitRows: 32, maximumBottleneck: adapter?.bottlenecks?.maximumBottleneck ?? 0,
      scalingVectors: adapter?.scalings != nil, dora: adapter?.lora?.hasDoRA == true, ledger: ledger)
    let loss = try DatasetLoss.mean(dataset, graph: graph, method: adapter, paddingID: lm.paddingID ?? lm.eosID ?? 0)
    let seconds = (ContinuousClock.now - start).seconds
    if json {
      let figures = DatasetResult(
        exactMatch: accuracy.accuracy, matches: accuracy.matches, examples: accuracy.cases, meanLoss: loss?.loss,
        lossTokens: loss?.tokens,
        samples: accuracy.samples.map { .init(prompt: $0.prompt, reference: $0.reference, generated: $0.generated) },
        seconds: seconds)
      try Output.json(CommandReport(figures, memory: MemoryFigures(ledger: ledger)))
    } else {
      Output.result(
        String(format: "exact match %.1f%% (%d of %d)", 100 * accuracy.accuracy, accuracy.matches, accuracy.cases)
          + (loss.map { String(format: ", mean loss %.4f over %d tokens", $0.loss, $0.tokens) } ?? ""))
      if let sample = accuracy.samples.first {
        Output.result("sample: expected \"\(sample.reference)\", generated \"\(sample.generated)\"")
      }
    }
    Output.diagnostic(String(format: "%.1f s; ", seconds) + Output.memoryLine() + "; " + ledger.peakLine())
  }
}

/// `eval --json`'s documents, one per mode (the library's types; tests decode them by these names).
extension Eval {
  typealias TextResult = EvaluationResult.Text
  typealias DatasetResult = EvaluationResult.Dataset
  typealias RewardResult = EvaluationResult.Reward
}
