import Foundation
import Model

/// One chosen/rejected pair of one line, both sharing the same prompt; each side is a `DataRecord` of shape
/// `.promptCompletion` (string formats) or `.conversationalPromptCompletion` (message formats), so it encodes
/// exactly as an SFT example would: chat rendering, loss on the completion, truncation to `seqLen`.
public struct PreferencePairRecord: Sendable, Equatable {
  public var chosen: DataRecord
  public var rejected: DataRecord

  public init(chosen: DataRecord, rejected: DataRecord) {
    self.chosen = chosen
    self.rejected = rejected
  }
}

/// One JSONL line of preference data, in the shapes TRL's `RewardTrainer` and `DPOTrainer` read, plus ranked lists.
///
/// - `{"prompt": "...", "chosen": "...", "rejected": "..."}`: explicit prompt, standard;
/// - `{"prompt": [messages], "chosen": [messages], "rejected": [messages]}`: explicit prompt, conversational;
/// - `{"chosen": "...", "rejected": "..."}`: implicit prompt, the longest common prefix of the two (a space just
///   before the point where they differ goes with the completions, as TRL's `extract_prompt` does);
/// - `{"chosen": [messages], "rejected": [messages]}`: implicit prompt, the longest common run of leading messages;
/// - `{"prompt": P, "completions": [c0, c1, ...]}`: a ranking, best first (strings, or message lists when P is
///   one), expanded to every pair (ci, cj) with i < j, ci chosen: what a ranking says, and nothing more.
/// Other keys (an `id`, a `score`) are ignored, as TRL ignores extra columns.
/// ref: TRL "Dataset formats and types" (docs/source/dataset_formats.md, "Preference"); TRL `extract_prompt`.
public enum PreferenceRecord {
  /// Parses one line (without its line terminator) into its pairs: UTF-8, then JSON (errors worded as
  /// `DataRecord` words them), then the shape, the types of its fields and whether each pair can teach anything.
  public static func pairs(jsonLine bytes: UnsafeRawBufferPointer) throws(DataRecordError) -> [PreferencePairRecord] {
    let object = try DataRecord.jsonObject(line: bytes)
    return try pairs(object)
  }

  /// The pairs a parsed JSON object holds.
  static func pairs(_ object: [String: Any]) throws(DataRecordError) -> [PreferencePairRecord] {
    let prompt = object["prompt"]
    let chosen = object["chosen"]
    let rejected = object["rejected"]
    if let completions = object["completions"] {
      guard chosen == nil && rejected == nil else {
        throw DataRecordError("give either \"chosen\" + \"rejected\" or a ranked \"completions\" list, not both")
      }
      guard let prompt else { throw DataRecordError("\"completions\" without \"prompt\"") }
      return try ranked(prompt: prompt, completions: completions)
    }
    guard let chosen, let rejected else {
      if prompt == nil && chosen == nil && rejected == nil {
        let keys = object.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
        throw DataRecordError(
          "no preference record shape: expected \"chosen\" + \"rejected\" (with or without \"prompt\") or "
            + "\"prompt\" + \"completions\" (found keys: " + (keys.isEmpty ? "none" : keys) + ")")
      }
      let missing = [chosen == nil ? "\"chosen\"" : nil, rejected == nil ? "\"rejected\"" : nil].compactMap { $0 }
      throw DataRecordError(
        "missing \(missing.joined(separator: " and ")): a preference record has \"chosen\" and \"rejected\" "
          + "(or \"completions\", ranked best first)")
    }
    guard let prompt else { return [try implicit(chosen: chosen, rejected: rejected)] }
    if let prompt = prompt as? String {
      try checkPrompt(prompt)
      let chosen = try completion(chosen, key: "chosen")
      let rejected = try completion(rejected, key: "rejected")
      guard chosen != rejected else { throw identical }
      return [
        PreferencePairRecord(
          chosen: .promptCompletion(prompt: prompt, completion: chosen),
          rejected: .promptCompletion(prompt: prompt, completion: rejected))
      ]
    }
    let messages = try promptMessages(prompt)
    let chosenMessages = try completionMessages(chosen, key: "chosen")
    let rejectedMessages = try completionMessages(rejected, key: "rejected")
    guard chosenMessages != rejectedMessages else { throw identical }
    return [
      PreferencePairRecord(
        chosen: .conversationalPromptCompletion(prompt: messages, completion: chosenMessages),
        rejected: .conversationalPromptCompletion(prompt: messages, completion: rejectedMessages))
    ]
  }

  static var identical: DataRecordError {
    DataRecordError("chosen and rejected are identical: the pair teaches nothing")
  }

  /// A pair without a prompt: the prompt is what both sides start with.
  static func implicit(chosen: Any, rejected: Any) throws(DataRecordError) -> PreferencePairRecord {
    if let chosen = chosen as? String {
      guard let rejected = rejected as? String else {
        throw DataRecordError(
          "\"chosen\" is a string, so \"rejected\" must be one too, not \(DataRecord.typeName(rejected))")
      }
      guard !chosen.isEmpty else { throw DataRecordError("\"chosen\" is empty") }
      guard !rejected.isEmpty else { throw DataRecordError("\"rejected\" is empty") }
      guard chosen != rejected else { throw identical }
      let (prompt, chosenRest, rejectedRest) = commonPrefix(chosen, rejected)
      guard !prompt.allSatisfy(\.isWhitespace) else {
        throw DataRecordError("chosen and rejected share no prompt; give \"prompt\" explicitly")
      }
      guard !chosenRest.isEmpty else {
        throw DataRecordError(
          "\"chosen\" is empty after the prompt it shares with \"rejected\" (one extends the other)")
      }
      guard !rejectedRest.isEmpty else {
        throw DataRecordError(
          "\"rejected\" is empty after the prompt it shares with \"chosen\" (one extends the other)")
      }
      return PreferencePairRecord(
        chosen: .promptCompletion(prompt: prompt, completion: chosenRest),
        rejected: .promptCompletion(prompt: prompt, completion: rejectedRest))
    }
    guard chosen is [Any] else {
      throw DataRecordError(
        "\"chosen\" must be a string or a list of messages, not \(DataRecord.typeName(chosen))")
    }
    guard rejected is [Any] else {
      throw DataRecordError(
        "\"chosen\" is a list of messages, so \"rejected\" must be one too, not \(DataRecord.typeName(rejected))")
    }
    let chosenMessages = try DataRecord.messages(chosen, key: "chosen")
    let rejectedMessages = try DataRecord.messages(rejected, key: "rejected")
    guard chosenMessages != rejectedMessages else { throw identical }
    var shared = 0
    while shared < min(chosenMessages.count, rejectedMessages.count)
      && chosenMessages[shared] == rejectedMessages[shared]
    {
      shared += 1
    }
    guard shared > 0 else {
      throw DataRecordError(
        "chosen and rejected share no leading message, so there is no prompt; give \"prompt\" explicitly")
    }
    for (key, messages) in [("chosen", chosenMessages), ("rejected", rejectedMessages)] where messages.count == shared {
      throw DataRecordError(
        "\"\(key)\" has nothing after the \(shared) leading message\(shared == 1 ? "" : "s") it shares with the "
          + "other side (the prompt), so it has no completion")
    }
    let prompt = Array(chosenMessages[..<shared])
    return PreferencePairRecord(
      chosen: .conversationalPromptCompletion(prompt: prompt, completion: Array(chosenMessages[shared...])),
      rejected: .conversationalPromptCompletion(prompt: prompt, completion: Array(rejectedMessages[shared...])))
  }

  /// The longest common prefix of two strings, in whole characters, and what follows it in each. A space ending
  /// the prefix moves to the completions ("The sky is| blue" / "The sky is| green"), as TRL's `extract_prompt`.
  static func commonPrefix(_ a: String, _ b: String) -> (prefix: String, a: String, b: String) {
    var ia = a.startIndex
    var ib = b.startIndex
    while ia < a.endIndex && ib < b.endIndex && a[ia] == b[ib] {
      ia = a.index(after: ia)
      ib = b.index(after: ib)
    }
    if ia > a.startIndex && ia < a.endIndex && ib < b.endIndex && a[a.index(before: ia)] == " " {
      ia = a.index(before: ia)
      ib = b.index(before: ib)
    }
    return (String(a[..<ia]), String(a[ia...]), String(b[ib...]))
  }

  /// A ranking, best first, as every pair (better, worse).
  static func ranked(prompt: Any, completions: Any) throws(DataRecordError) -> [PreferencePairRecord] {
    guard let list = completions as? [Any] else {
      throw DataRecordError("\"completions\" must be a list, best first, not \(DataRecord.typeName(completions))")
    }
    guard list.count >= 2 else {
      throw DataRecordError(
        "\"completions\" has \(list.count) completion\(list.count == 1 ? "" : "s"); a ranking needs at least 2")
    }
    let records: [DataRecord]
    if let prompt = prompt as? String {
      try checkPrompt(prompt)
      var texts: [String] = []
      for (index, item) in list.enumerated() {
        guard let text = item as? String else {
          throw DataRecordError(
            "\"prompt\" is a string, so completions[\(index)] must be one too, not \(DataRecord.typeName(item))")
        }
        guard !text.isEmpty else { throw DataRecordError("completions[\(index)] is empty") }
        try checkDistinct(text, from: texts, at: index)
        texts.append(text)
      }
      records = texts.map { .promptCompletion(prompt: prompt, completion: $0) }
    } else {
      let messages = try promptMessages(prompt)
      var completionsMessages: [[ChatMessage]] = []
      for (index, item) in list.enumerated() {
        guard item is [Any] else {
          throw DataRecordError(
            "\"prompt\" is a list of messages, so completions[\(index)] must be one too, not "
              + DataRecord.typeName(item))
        }
        let completion = try DataRecord.messages(item, key: "completions[\(index)]")
        try checkDistinct(completion, from: completionsMessages, at: index)
        completionsMessages.append(completion)
      }
      records = completionsMessages.map { .conversationalPromptCompletion(prompt: messages, completion: $0) }
    }
    var pairs: [PreferencePairRecord] = []
    pairs.reserveCapacity(records.count * (records.count - 1) / 2)
    for i in records.indices {
      for j in (i + 1)..<records.count { pairs.append(PreferencePairRecord(chosen: records[i], rejected: records[j])) }
    }
    return pairs
  }

  /// Two equal completions in a ranking would make a pair that teaches nothing (or contradicts another).
  static func checkDistinct<Item: Equatable>(_ item: Item, from earlier: [Item], at index: Int)
    throws(DataRecordError)
  {
    if let first = earlier.firstIndex(of: item) {
      throw DataRecordError(
        "completions[\(first)] and completions[\(index)] are identical: a ranking needs distinct items")
    }
  }

  /// A string prompt must say something: an empty one makes the "prompt" a reward for text out of nowhere.
  static func checkPrompt(_ prompt: String) throws(DataRecordError) {
    guard !prompt.allSatisfy(\.isWhitespace) else {
      throw DataRecordError("\"prompt\" is empty or only whitespace")
    }
  }

  /// A prompt that is not a string: it must be a non-empty message list.
  static func promptMessages(_ prompt: Any) throws(DataRecordError) -> [ChatMessage] {
    guard prompt is [Any] else {
      throw DataRecordError("\"prompt\" must be a string or a list of messages, not \(DataRecord.typeName(prompt))")
    }
    return try DataRecord.messages(prompt, key: "prompt")
  }

  /// The string completion under `key` of a string prompt.
  static func completion(_ value: Any, key: String) throws(DataRecordError) -> String {
    guard let text = value as? String else {
      throw DataRecordError(
        "\"prompt\" is a string, so \"\(key)\" must be one too, not \(DataRecord.typeName(value))")
    }
    guard !text.isEmpty else { throw DataRecordError("\"\(key)\" is empty") }
    return text
  }

  /// The message-list completion under `key` of a message-list prompt.
  static func completionMessages(_ value: Any, key: String) throws(DataRecordError) -> [ChatMessage] {
    guard value is [Any] else {
      throw DataRecordError(
        "\"prompt\" is a list of messages, so \"\(key)\" must be one too, not \(DataRecord.typeName(value))")
    }
    return try DataRecord.messages(value, key: key)
  }
}
