import Foundation
public import Model

/// Prompts for PPO's rollouts, one JSONL line each: `{"prompt": "text"}` (a user message), `{"prompt": [messages]}`
/// or `{"messages": [messages]}` (a conversation awaiting the assistant), rendered with the model's chat template.
public struct PromptSet: Sendable {
  public struct Prompt: Sendable, Equatable {
    public var messages: [ChatMessage]
    /// The rendered conversation with the assistant's header, tokenized: what generation continues.
    public var tokens: [Int32]
    public var line: Int
  }

  public let path: String
  public private(set) var prompts: [Prompt]
  public var count: Int { prompts.count }
  public subscript(index: Int) -> Prompt { prompts[index] }

  public init(path: String, prompts: [Prompt]) {
    self.path = path
    self.prompts = prompts
  }

  /// Reads every line; a bad line (not JSON, no prompt, an empty prompt, a conversation ending with the assistant,
  /// a prompt longer than `maxTokens`) is an error naming the line. An empty file is an error too.
  public static func load(path: String, model: LanguageModel, maxTokens: Int) throws(TrainingError) -> PromptSet {
    var prompts: [Prompt] = []
    _ = try LineReader.forEachRecord(
      path: path, skipBadLines: false,
      parse: { bytes throws(DataRecordError) -> (messages: [ChatMessage], tokens: [Int32]) in
        let object = try DataRecord.jsonObject(line: bytes)
        let messages: [ChatMessage]
        if let text = object["prompt"] as? String {
          guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw DataRecordError("empty prompt")
          }
          messages = [ChatMessage(role: "user", content: text)]
        } else if let list = object["prompt"] ?? object["messages"] {
          messages = try DataRecord.messages(list, key: object["prompt"] != nil ? "prompt" : "messages")
        } else {
          throw DataRecordError(
            "no \"prompt\" (a string or a list of messages) or \"messages\" (found keys: "
              + object.keys.sorted().joined(separator: ", ") + ")")
        }
        guard messages.last?.role != "assistant" else {
          throw DataRecordError("the conversation ends with the assistant: nothing is left to answer")
        }
        let tokens = model.encodePrompt(model.chatTemplate.render(messages, addGenerationPrompt: true))
        guard tokens.count <= maxTokens else {
          throw DataRecordError(
            "the prompt has \(tokens.count) tokens, more than the \(maxTokens) allowed (the sequence length "
              + "minus the longest answer)")
        }
        return (messages, tokens)
      },
      body: { parsed, line in prompts.append(Prompt(messages: parsed.messages, tokens: parsed.tokens, line: line)) })
    guard !prompts.isEmpty else { throw .emptyDataset(path: path, reason: "no prompt lines") }
    return PromptSet(path: path, prompts: prompts)
  }
}
