import ArgumentParser
import Formats
import Foundation
import Memory
import Model

/// `edgetune generate`: text from a prompt or a chat message, streamed to stdout; or, with --prompts, an answer for
/// every prompt of a JSONL file, one JSON line each.
struct Generate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Generate text from a prompt, or answer a chat message with the model's chat template.",
    discussion: """
      --prompts FILE answers every line of a JSONL file with one model and session: {"prompt": "..."} is a user \
      message (as with --chat), {"prompt": [{"role": ..., "content": ...}, ...]} a conversation awaiting the \
      assistant. Each answer is a JSON line {"prompt": ..., "answer": ..., "tokens": N} on stdout or in --output; \
      prompt i samples with seed --seed + i.
      """)

  @OptionGroup var model: ModelOptions
  @OptionGroup var threads: ThreadOptions
  @OptionGroup var adapterOptions: AdapterOptions
  @OptionGroup var budget: BudgetOptions

  @Option(help: "Raw prompt text (special tokens such as <|im_start|> are recognized).")
  var prompt: String?

  @Option(help: "A user message, rendered with the model's chat template and answered as the assistant.")
  var chat: String?

  @Option(
    help: ArgumentHelp(
      "A JSONL file of prompts to answer in turn: {\"prompt\": \"...\"} or {\"prompt\": [messages]} per line.",
      valueName: "file"))
  var prompts: String?

  @Option(help: ArgumentHelp("With --prompts: write the answers (JSONL) here instead of stdout.", valueName: "file"))
  var output: String?

  @Option(help: "System message for --chat and --prompts (default: the template's own).")
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
    if prompts != nil {
      guard prompt == nil, chat == nil else {
        throw ValidationError("give --prompts alone: it does not combine with --prompt or --chat")
      }
      guard !json else { throw ValidationError("--json does not apply to --prompts: its output is JSON lines already") }
    } else {
      guard (prompt == nil) != (chat == nil) else {
        throw ValidationError("give exactly one of --prompt, --chat and --prompts")
      }
      guard output == nil else { throw ValidationError("--output goes with --prompts") }
    }
    guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1, got \(maxTokens)") }
    guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 or more") }
    guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more") }
  }

  func run() throws {
    threads.apply()
    try generateText()
    try budget.requireKept()
  }

  /// The command's work (one prompt or --prompts), before the budget's final check.
  func generateText() throws {
    if let prompts { return try runBatch(prompts) }
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
    let wanted = tokensWanted(context: lm.config.contextLength)
    let capacity = min(lm.config.contextLength, promptIDs.count + wanted)
    guard promptIDs.count < capacity else {
      throw ModelError.contextExceeded(tokens: promptIDs.count + wanted, limit: lm.config.contextLength)
    }
    let made = try makeGenerator(lm, capacity: capacity)
    let (ledger, stops) = (made.ledger, made.stops)
    var generator = made.generator
    var stream = UTF8Stream()
    let (ids, stats) = try generator.generate(prompt: promptIDs, maxTokens: min(maxTokens, capacity - promptIDs.count))
    { id in
      guard !json, !stops.contains(id) else { return }
      let piece = stream.append(lm.tokenizer.decodeBytes([id]))
      if !piece.isEmpty { FileHandle.standardOutput.write(Data(piece.utf8)) }
    }
    let visible = ids.filter { !stops.contains($0) }
    if json {
      let result = Result(
        text: lm.tokenizer.decode(visible), promptTokens: promptIDs.count, promptIDs: promptIDs.map(Int.init),
        generatedIDs: ids.map(Int.init), promptTokensPerSecond: stats.promptTokensPerSecond,
        generationTokensPerSecond: stats.generationTokensPerSecond,
        rssAnonBytes: (try? ProcStatus.current().rssAnon) ?? 0)
      try Output.json(CommandReport(result, memory: MemoryFigures(ledger: ledger)))
    } else {
      let rest = stream.finish()
      FileHandle.standardOutput.write(Data((rest + "\n").utf8))
    }
    Output.diagnostic(
      String(
        format: "prompt: %d tokens, %.1f tokens/s; generated: %d tokens, %.1f tokens/s; ", stats.promptTokens,
        stats.promptTokensPerSecond, stats.generatedTokens, stats.generationTokensPerSecond) + Output.memoryLine()
        + "; " + ledger.peakLine())
  }
}

extension Generate {
  /// One line of a --prompts file: its `prompt` value as given (echoed in the output) and the messages it renders.
  struct BatchPrompt {
    var line: Int
    var original: JSONValue
    var messages: [ChatMessage]
  }

  /// Reads a --prompts file: every non-blank line a JSON object whose "prompt" is a string (a user message) or a
  /// list of {"role", "content"} messages not ending with the assistant's. Errors name the file and the line.
  static func readPrompts(_ path: String, system: String?) throws -> [BatchPrompt] {
    let data = try InputFile.read(path, what: "--prompts")
    guard let text = String(data: data, encoding: .utf8) else {
      throw InputError("--prompts \(path) is not valid UTF-8")
    }
    var prompts: [BatchPrompt] = []
    for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
      guard !line.isEmpty else { continue }
      func bad(_ reason: String) -> InputError { InputError("--prompts \(path) line \(index + 1): \(reason)") }
      let parsed: JSONValue
      do {
        parsed = try JSONValue(parsing: Array(line.utf8))
      } catch {
        throw bad("invalid JSON: \(error.message) at byte \(error.offset)")
      }
      let expected = "expected {\"prompt\": \"...\"} or {\"prompt\": [{\"role\": ..., \"content\": ...}, ...]}"
      guard let value = parsed["prompt"] else { throw bad(expected) }
      var messages: [ChatMessage] = []
      if let system { messages.append(ChatMessage(role: "system", content: system)) }
      if let user = value.string {
        messages.append(ChatMessage(role: "user", content: user))
      } else if let list = value.array {
        guard !list.isEmpty else { throw bad("the prompt's message list is empty") }
        for (number, item) in list.enumerated() {
          guard let role = item["role"]?.string, let content = item["content"]?.string else {
            throw bad("message \(number + 1) of the prompt needs a string \"role\" and \"content\"")
          }
          if role == "system" && number == 0 && system != nil { messages.removeAll() }
          messages.append(ChatMessage(role: role, content: content))
        }
        guard messages.last?.role != "assistant" else {
          throw bad("the prompt ends with an assistant message: nothing is left to answer")
        }
      } else {
        throw bad(expected)
      }
      prompts.append(BatchPrompt(line: index + 1, original: value, messages: messages))
    }
    guard !prompts.isEmpty else { throw InputError("--prompts \(path) has no prompts") }
    return prompts
  }

  /// --prompts: every prompt answered in turn by one session (its KV cache reset in between), prompt i sampled with
  /// seed + i; JSON lines to --output (written atomically, when all are done) or stdout (as they come).
  func runBatch(_ path: String) throws {
    let records = try Self.readPrompts(path, system: system)
    let lm = try ModelLoader.load(path: model.model)
    let prefix = adapterOptions.virtualTokenCount.map { VirtualToken.prefix($0) } ?? []
    var encoded: [[Int32]] = []
    var rendered: [String] = []
    for record in records {
      rendered.append(lm.chatTemplate.render(record.messages, addGenerationPrompt: true))
      let ids = prefix + lm.encodePrompt(rendered.last!)
      guard ids.count < lm.config.contextLength else {
        throw InputError(
          "--prompts \(path) line \(record.line): the prompt's \(ids.count) tokens leave no room to answer in the "
            + "model's context of \(lm.config.contextLength)")
      }
      encoded.append(ids)
    }
    let context = lm.config.contextLength
    let capacity = min(context, encoded.map(\.count).max()! + tokensWanted(context: context))
    let made = try makeGenerator(lm, capacity: capacity)
    let (ledger, stops) = (made.ledger, made.stops)
    var generator = made.generator
    let writer = try output.map { try AtomicFileWriter(path: $0) }
    let start = ContinuousClock.now
    let bar = ProgressBar("generate", total: records.count)
    bar.update(0)
    var generated = 0
    var promptTokens = 0
    for (index, (record, ids)) in zip(records, encoded).enumerated() {
      let renderedPrompt = rendered[index]
      generator.session.reset()
      generator.sampler = Sampler(temperature: temperature, topK: topK, topP: topP, seed: seed &+ UInt64(index))
      let (tokens, _) = try generator.generate(prompt: ids, maxTokens: min(maxTokens, capacity - ids.count))
      let visible = tokens.filter { !stops.contains($0) }
      generated += tokens.count
      promptTokens += ids.count
      let line = try Output.jsonLine(
        BatchAnswer(
          prompt: record.original, renderedPrompt: renderedPrompt, answer: lm.tokenizer.decode(visible),
          tokens: visible.count))
      if let writer {
        try line.withUnsafeBytes { try writer.write($0) }
      } else {
        FileHandle.standardOutput.write(line)
      }
      let seconds = (ContinuousClock.now - start).seconds
      bar.update(index + 1, detail: String(format: "%.1f tokens/s", Double(generated) / max(seconds, 1e-9)))
    }
    bar.finish()
    try writer?.finish()
    let seconds = (ContinuousClock.now - start).seconds
    Output.diagnostic(
      String(
        format: "%d prompts (%d prompt tokens), %d tokens generated in %.1f s (%.1f tokens/s)", records.count,
        promptTokens, generated, seconds, Double(generated) / max(seconds, 1e-9))
        + (output.map { " → \($0)" } ?? "") + "; " + Output.memoryLine() + "; " + ledger.peakLine())
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

extension Generate {
  /// --max-tokens, where more than the context means "until the context is full" (so that adding it to a prompt's
  /// length cannot overflow).
  func tokensWanted(context: Int) -> Int { min(maxTokens, context) }

  /// The planned ledger, the adapter applied to a fresh session of `capacity` tokens, and a generator over it with
  /// the sampling options: shared by one prompt and by --prompts.
  func makeGenerator(_ lm: LanguageModel, capacity: Int) throws -> (
    ledger: MemoryLedger, stops: Set<Int32>, generator: TextGenerator
  ) {
    let ledger = try budget.apply(
      InferencePlan.session(
        model: lm, capacity: capacity, chunk: 256, adapterBytes: adapterOptions.plannedBytes, budget: budget.bytes),
      to: lm, what: "generation")
    let adapter = try adapterOptions.load(for: lm, ledger: ledger)
    let session = try InferenceSession(
      model: lm, capacity: capacity, chunk: 256, adapter: adapter?.lora, ledger: ledger)
    session.apply(adapter)
    let stops = ignoreEOS ? [] : lm.stopTokenIDs
    let generator = TextGenerator(
      session: session, sampler: Sampler(temperature: temperature, topK: topK, topP: topP, seed: seed),
      stopTokens: stops)
    return (ledger, stops, generator)
  }
}
