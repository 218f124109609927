import Formats
import Foundation
public import Model

/// One JSONL record, in one of the shapes TRL's `SFTTrainer` and MLX-LM's `lora` read.
///
/// The shape is decided per line, by key: `messages` first, then `prompt` + `completion`, then `text`; other
/// keys (an `id`, a `source`) are ignored, as both tools ignore extra columns.
/// - `{"text": "..."}`: language modelling, loss on every token;
/// - `{"prompt": "...", "completion": "..."}`: plain concatenation, loss on the completion;
/// - `{"prompt": [messages], "completion": [messages]}`: TRL's conversational prompt–completion, rendered with
///   the chat template, loss on the completion;
/// - `{"messages": [{"role": ..., "content": ...}, ...]}`: a conversation, loss on the assistant turns.
/// ref: TRL "Dataset formats and types" (docs/source/dataset_formats.md); MLX-LM LORA.md "Data".
public enum DataRecord: Sendable, Equatable {
  case text(String)
  case promptCompletion(prompt: String, completion: String)
  case conversationalPromptCompletion(prompt: [ChatMessage], completion: [ChatMessage])
  case messages([ChatMessage])

  /// The record's shape without its content, for counting.
  public enum Shape: String, Sendable, Codable, CodingKeyRepresentable, CaseIterable {
    case text, promptCompletion, conversationalPromptCompletion, messages
  }

  /// Roles a message may have; anything else is a bad line (a typo like "assisstant" would otherwise be rendered
  /// as its own turn and never trained on).
  public static let knownRoles: Set<String> = ["system", "user", "assistant"]

  public var shape: Shape {
    switch self {
    case .text: .text
    case .promptCompletion: .promptCompletion
    case .conversationalPromptCompletion: .conversationalPromptCompletion
    case .messages: .messages
    }
  }

  /// Parses one line (without its line terminator): UTF-8, then JSON, then the shape and the types of its fields.
  public init(jsonLine bytes: UnsafeRawBufferPointer) throws(DataRecordError) {
    self = try Self.record(try Self.jsonObject(line: bytes))
  }

  /// One JSONL line as a JSON object: UTF-8 first (naming the first bad byte), then JSON, then the object shape.
  static func jsonObject(line bytes: UnsafeRawBufferPointer) throws(DataRecordError) -> [String: Any] {
    // The mapping's bytes are never bound to another type; reading them as UInt8 is what a byte buffer means.
    if let offset = JSONReader.firstInvalidUTF8(bytes.assumingMemoryBound(to: UInt8.self)) {
      throw DataRecordError("invalid UTF-8 at byte \(offset)")
    }
    let parsed: Any
    do {
      parsed = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
    } catch {
      let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
      throw DataRecordError("invalid JSON: \(detail)")
    }
    guard let object = parsed as? [String: Any] else {
      throw DataRecordError("a record must be a JSON object, not \(Self.typeName(parsed))")
    }
    return object
  }

  /// The record a parsed JSON object holds.
  static func record(_ object: [String: Any]) throws(DataRecordError) -> DataRecord {
    if let messages = object["messages"] {
      return .messages(try Self.messages(messages, key: "messages"))
    }
    if let prompt = object["prompt"] {
      guard let completion = object["completion"] else {
        throw DataRecordError("\"prompt\" without \"completion\"")
      }
      if let prompt = prompt as? String {
        guard let completion = completion as? String else {
          throw DataRecordError(
            "\"prompt\" is a string, so \"completion\" must be one too, not \(Self.typeName(completion))")
        }
        return .promptCompletion(prompt: prompt, completion: completion)
      }
      guard prompt is [Any] else {
        throw DataRecordError(
          "\"prompt\" must be a string or a list of messages, not \(Self.typeName(prompt))")
      }
      guard completion is [Any] else {
        throw DataRecordError(
          "\"prompt\" is a list of messages, so \"completion\" must be one too, not \(Self.typeName(completion))")
      }
      return .conversationalPromptCompletion(
        prompt: try Self.messages(prompt, key: "prompt"), completion: try Self.messages(completion, key: "completion"))
    }
    if let text = object["text"] {
      guard let text = text as? String else {
        throw DataRecordError("\"text\" must be a string, not \(Self.typeName(text))")
      }
      return .text(text)
    }
    let keys = object.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
    throw DataRecordError(
      "no known record shape: expected \"text\", \"prompt\" + \"completion\" or \"messages\" (found keys: "
        + (keys.isEmpty ? "none" : keys) + ")")
  }

  /// A non-empty list of `{"role": String, "content": String}` objects with known roles.
  static func messages(_ value: Any, key: String) throws(DataRecordError) -> [ChatMessage] {
    guard let list = value as? [Any] else {
      throw DataRecordError("\"\(key)\" must be a list of messages, not \(Self.typeName(value))")
    }
    guard !list.isEmpty else { throw DataRecordError("\"\(key)\" is empty") }
    var messages: [ChatMessage] = []
    messages.reserveCapacity(list.count)
    for (index, item) in list.enumerated() {
      let at = "\(key)[\(index)]"
      guard let message = item as? [String: Any] else {
        throw DataRecordError("\(at) must be an object with \"role\" and \"content\", not \(Self.typeName(item))")
      }
      guard let role = message["role"] else { throw DataRecordError("\(at) has no \"role\"") }
      guard let role = role as? String else {
        throw DataRecordError("\(at).role must be a string, not \(Self.typeName(role))")
      }
      guard Self.knownRoles.contains(role) else {
        throw DataRecordError(
          "\(at) has unknown role \"\(role)\" (known: \(Self.knownRoles.sorted().joined(separator: ", ")))")
      }
      guard let content = message["content"] else { throw DataRecordError("\(at) has no \"content\"") }
      guard let content = content as? String else {
        throw DataRecordError("\(at).content must be a string, not \(Self.typeName(content))")
      }
      messages.append(ChatMessage(role: role, content: content))
    }
    return messages
  }

  /// The JSON type of a value from JSONSerialization, for messages.
  static func typeName(_ value: Any) -> String {
    switch value {
    case is NSNull: "null"
    case is String: "a string"
    case is [Any]: "a list"
    case is [String: Any]: "an object"
    // JSONSerialization boxes booleans as NSNumber too, with the Objective-C type code of `char`.
    case let number as NSNumber: String(cString: number.objCType) == "c" ? "a boolean" : "a number"
    default: "\(type(of: value))"
    }
  }

}

/// Why one record could not be read or encoded; `JSONLDataset` adds the file and line (`TrainingError.badLine`).
public struct DataRecordError: Error, Equatable, Sendable, CustomStringConvertible {
  public var reason: String

  public init(_ reason: String) {
    self.reason = reason
  }

  public var description: String { reason }
}
