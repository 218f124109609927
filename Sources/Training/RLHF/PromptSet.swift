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
    var reader = try LineReader(path: path)
    var prompts: [Prompt] = []
    while let prompt = try reader.nextLine({ bytes, line throws(TrainingError) -> Prompt? in
      if bytes.allSatisfy({ $0 == 0x20 || (0x09...0x0D).contains($0) }) { return nil }
      func fail(_ reason: String) -> TrainingError { .badLine(path: path, line: line, reason: reason) }
      guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
        throw fail("not a JSON object")
      }
      let messages: [ChatMessage]
      do throws(DataRecordError) {
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
      } catch {
        throw fail(error.reason)
      }
      guard messages.last?.role != "assistant" else {
        throw fail("the conversation ends with the assistant: nothing is left to answer")
      }
      let tokens = model.encodePrompt(model.chatTemplate.render(messages, addGenerationPrompt: true))
      guard tokens.count <= maxTokens else {
        throw fail(
          "the prompt has \(tokens.count) tokens, more than the \(maxTokens) allowed (--seq-len minus --max-new-tokens)"
        )
      }
      return Prompt(messages: messages, tokens: tokens, line: line)
    }) {
      if let prompt { prompts.append(prompt) }
    }
    guard !prompts.isEmpty else { throw .emptyDataset(path: path, reason: "no prompt lines") }
    return PromptSet(path: path, prompts: prompts)
  }
}
