import Foundation
public import Memory
public import Model

/// Task accuracy the way a user checks a fine-tune: for each prompt/completion record (or conversation, whose last
/// assistant turn is the reference), generate greedily from the prompt and compare the text with the reference
/// after trimming whitespace on both sides.
public enum ExactMatch {
  /// One prompt rendered as the model sees it, and the answer expected.
  public struct Case: Sendable {
    public var prompt: String
    public var reference: String
    public var line: Int
  }

  public struct Result: Sendable {
    public var cases: Int
    public var matches: Int
    public var accuracy: Double { cases > 0 ? Double(matches) / Double(cases) : 0 }
    /// (prompt, reference, generated) of the first few cases, for reports.
    public var samples: [(prompt: String, reference: String, generated: String)]
  }

  /// The cases of a JSONL file: prompt/completion records (rendered as `pairs` says) and conversations ending in an
  /// assistant turn; `text` records have no reference and are skipped.
  public static func cases(path: String, template: ChatTemplate, pairs: PairRendering) throws -> [Case] {
    var reader = try LineReader(path: path)
    var cases: [Case] = []
    while let next: Case? = try reader.nextLine({ (bytes, line) throws(TrainingError) -> Case? in
      if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
      let record: DataRecord
      do {
        record = try DataRecord(jsonLine: bytes)
      } catch {
        throw .badLine(path: path, line: line, reason: "\(error)")
      }
      switch pairs.apply(to: record) {
      case .text: return nil
      case .promptCompletion(let prompt, let completion):
        return Case(prompt: prompt, reference: completion, line: line)
      case .conversationalPromptCompletion(let prompt, let completion):
        guard let answer = completion.last(where: { $0.role == "assistant" }) else { return nil }
        return Case(prompt: template.render(prompt, addGenerationPrompt: true), reference: answer.content, line: line)
      case .messages(let messages):
        guard let last = messages.lastIndex(where: { $0.role == "assistant" }) else { return nil }
        return Case(
          prompt: template.render(Array(messages[..<last]), addGenerationPrompt: true),
          reference: messages[last].content,
          line: line)
      }
    }) {
      if let next { cases.append(next) }
    }
    return cases
  }

  /// Greedy answers for `cases` (stopping at EOS or the template's end of turn, or after the reference's length plus
  /// `slack` tokens), compared with the references.
  public static func evaluate(
    _ cases: [Case], model: LanguageModel, method: (any TrainableMethod)?, slack: Int = 16, ledger: MemoryLedger,
    progress: (Int) -> Void = { _ in }
  ) throws -> Result {
    let stops = model.stopTokenIDs
    let prefix = method?.inputPrefix ?? []
    let prompts = cases.map { prefix + model.encodePrompt($0.prompt) }
    let longest = zip(cases, prompts).map { $1.count + model.tokenizer.encode($0.reference).count + slack }.max() ?? 1
    let session = try InferenceSession(
      model: model, capacity: min(model.config.contextLength, max(longest, 2)), chunk: 256, adapter: method?.lora,
      ledger: ledger)
    session.apply(method)
    var matches = 0
    var samples: [(String, String, String)] = []
    for (i, (item, prompt)) in zip(cases, prompts).enumerated() {
      session.reset()
      let budget = min(model.tokenizer.encode(item.reference).count + slack, session.capacity - prompt.count)
      var generator = TextGenerator(session: session, sampler: Sampler(temperature: 0), stopTokens: stops)
      let (ids, _) = try generator.generate(prompt: prompt, maxTokens: max(1, budget))
      let text = model.tokenizer.decode(ids.filter { !stops.contains($0) })
      let generated = text.trimmingCharacters(in: .whitespacesAndNewlines)
      if generated == item.reference.trimmingCharacters(in: .whitespacesAndNewlines) { matches += 1 }
      if samples.count < 3 { samples.append((item.prompt, item.reference, generated)) }
      progress(i + 1)
    }
    return Result(cases: cases.count, matches: matches, samples: samples)
  }
}
