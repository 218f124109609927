import ArgumentParser
import Foundation
import Memory
import Model

/// `edgetune eval`: mean cross-entropy and perplexity of a model over a text file.
struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Mean cross-entropy and perplexity over a text file, in windows of the context length.")

  @OptionGroup var model: ModelOptions
  @OptionGroup var threads: ThreadOptions

  @Option(help: "A UTF-8 text file to score.")
  var text: String

  @Option(help: "Window length in tokens (default: the model's context length).")
  var context: Int?

  @Flag(help: "Print JSON (mean_loss, perplexity, tokens) on stdout.")
  var json = false

  func validate() throws {
    if let context, context < 2 { throw ValidationError("--context must be at least 2") }
  }

  func run() throws {
    threads.apply()
    guard let data = FileManager.default.contents(atPath: text) else {
      throw InputError("cannot read --text \(text): no such file or not readable")
    }
    guard let body = String(data: data, encoding: .utf8) else {
      throw InputError("--text \(text) is not valid UTF-8")
    }
    let lm = try ModelLoader.load(path: model.model)
    let ids = lm.encodePrompt(body)
    guard ids.count >= 2 else { throw InputError("--text \(text) has fewer than 2 tokens; nothing to score") }
    let window = min(context ?? lm.config.contextLength, lm.config.contextLength)
    let ledger = MemoryLedger()
    let session = try InferenceSession(model: lm, capacity: min(window, ids.count), chunk: 128, ledger: ledger)
    let start = ContinuousClock.now
    let result = try evaluatePerplexity(ids: ids, window: min(window, ids.count), session: session) { done in
      Output.diagnostic("eval: \(done)/\(ids.count) tokens")
    }
    let seconds = (ContinuousClock.now - start).seconds
    if json {
      try Output.json(
        Output.ledgerJSON(ledger).merging([
          "mean_loss": result.meanLoss, "perplexity": result.perplexity, "tokens": result.tokens,
          "predicted": result.predicted,
          "context": window, "tokens_per_second": Double(result.tokens) / max(seconds, 1e-9),
          "peak_rss_bytes": (try? ProcStatus.current().vmHWM) ?? 0,
        ]) { a, _ in a })
    } else {
      Output.result(
        String(
          format: "mean loss %.6f, perplexity %.4f over %d tokens (%d predicted, windows of %d)", result.meanLoss,
          result.perplexity, result.tokens, result.predicted, window))
    }
    Output.diagnostic(
      String(format: "%.1f tokens/s; ", Double(result.tokens) / max(seconds, 1e-9)) + Output.memoryLine() + "; "
        + Output.ledgerLine(ledger))
  }
}
