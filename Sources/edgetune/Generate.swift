import ArgumentParser
import Foundation
import Memory
import Model

/// `edgetune generate`: text from a prompt or a chat message, streamed to stdout.
struct Generate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Generate text from a prompt, or answer a chat message with the model's chat template.")

  @OptionGroup var model: ModelOptions
  @OptionGroup var threads: ThreadOptions
  @OptionGroup var adapterOptions: AdapterOptions
  @OptionGroup var budget: BudgetOptions

  @Option(help: "Raw prompt text (special tokens such as <|im_start|> are recognized).")
  var prompt: String?

  @Option(help: "A user message, rendered with the model's chat template and answered as the assistant.")
  var chat: String?

  @Option(help: "System message for --chat (default: the template's own).")
  var system: String?

  @Option(help: "Maximum tokens to generate.")
  var maxTokens: Int = 128

  @Option(help: "Sampling temperature; 0 picks the most likely token every time (greedy).")
  var temperature: Float = 0.7

  @Option(help: "Keep only the k most likely tokens (0: all).")
  var topK: Int = 40

  @Option(help: "Keep the most likely tokens whose probabilities add up to p.")
  var topP: Float = 0.9

  @Option(help: "Random seed for sampling.")
  var seed: UInt64 = 0

  @Flag(help: "Do not stop at end-of-sequence or end-of-turn tokens.")
  var ignoreEOS = false

  @Flag(help: "Print one JSON object (text, token ids, statistics) instead of streaming text.")
  var json = false

  func validate() throws {
    guard (prompt == nil) != (chat == nil) else { throw ValidationError("give exactly one of --prompt and --chat") }
    guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 or more") }
    guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more") }
  }

  func run() throws {
    threads.apply()
    let lm = try ModelLoader.load(path: model.model)
    let text: String
    if let chat {
      var messages: [ChatMessage] = []
      if let system { messages.append(ChatMessage(role: "system", content: system)) }
      messages.append(ChatMessage(role: "user", content: chat))
      text = lm.chatTemplate.render(messages, addGenerationPrompt: true)
    } else {
      text = prompt!
    }
    let encoded = lm.encodePrompt(text)
    guard !encoded.isEmpty else { throw ValidationError("the prompt is empty") }
    // A soft prompt's virtual tokens are part of the prompt: they need room in the context too.
    let promptIDs = adapterOptions.virtualTokenCount.map { VirtualToken.prefix($0) + encoded } ?? encoded
    let capacity = min(lm.config.contextLength, promptIDs.count + maxTokens)
    guard promptIDs.count < capacity else {
      throw ModelError.contextExceeded(tokens: promptIDs.count + maxTokens, limit: lm.config.contextLength)
    }
    let ledger = try budget.apply(
      InferencePlan.session(
        model: lm, capacity: capacity, chunk: 256, adapterBytes: adapterOptions.plannedBytes, budget: budget.bytes),
      to: lm, what: "generation")
    let adapter = try adapterOptions.load(for: lm, ledger: ledger)
    let session = try InferenceSession(
      model: lm, capacity: capacity, chunk: 256, adapter: adapter?.lora, ledger: ledger)
    session.apply(adapter)
    let stops = ignoreEOS ? [] : lm.stopTokenIDs
    var generator = TextGenerator(
      session: session, sampler: Sampler(temperature: temperature, topK: topK, topP: topP, seed: seed),
      stopTokens: stops)
    var stream = UTF8Stream()
    let (ids, stats) = try generator.generate(prompt: promptIDs, maxTokens: min(maxTokens, capacity - promptIDs.count))
    { id in
      guard !json, !stops.contains(id) else { return }
      let piece = stream.append(lm.tokenizer.decodeBytes([id]))
      if !piece.isEmpty { FileHandle.standardOutput.write(Data(piece.utf8)) }
    }
    let visible = ids.filter { !stops.contains($0) }
    if json {
      try Output.json(
        Output.ledgerJSON(ledger).merging([
          "text": lm.tokenizer.decode(visible), "prompt_tokens": promptIDs.count, "prompt_ids": promptIDs.map(Int.init),
          "generated_ids": ids.map(Int.init), "prompt_tokens_per_second": stats.promptTokensPerSecond,
          "generation_tokens_per_second": stats.generationTokensPerSecond,
          "peak_rss_bytes": (try? ProcStatus.current().vmHWM) ?? 0,
          "rss_anon_bytes": (try? ProcStatus.current().rssAnon) ?? 0,
        ]) { a, _ in a })
    } else {
      let rest = stream.finish()
      FileHandle.standardOutput.write(Data((rest + "\n").utf8))
    }
    Output.diagnostic(
      String(
        format: "prompt: %d tokens, %.1f tokens/s; generated: %d tokens, %.1f tokens/s; ", stats.promptTokens,
        stats.promptTokensPerSecond, stats.generatedTokens, stats.generationTokensPerSecond) + Output.memoryLine()
        + "; " + Output.ledgerLine(ledger))
  }
}

/// Turns a stream of token bytes into text without splitting a UTF-8 sequence across tokens.
struct UTF8Stream {
  private var pending: [UInt8] = []

  /// Appends bytes and returns the longest prefix that is complete UTF-8 (invalid bytes become U+FFFD).
  mutating func append(_ bytes: [UInt8]) -> String {
    pending += bytes
    var end = pending.count
    // Hold back at most 3 trailing bytes of an unfinished multi-byte sequence.
    var back = 0
    while back < min(3, end) {
      let byte = pending[end - 1 - back]
      if byte & 0xC0 == 0x80 {
        back += 1
        continue
      }
      if byte >= 0xC0 {
        let needed = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2
        if back + 1 < needed { end -= back + 1 }
      }
      break
    }
    let text = String(decoding: pending[..<end], as: UTF8.self)
    pending.removeFirst(end)
    return text
  }

  mutating func finish() -> String {
    defer { pending = [] }
    return String(decoding: pending, as: UTF8.self)
  }
}
