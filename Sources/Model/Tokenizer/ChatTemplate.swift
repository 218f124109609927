/// One turn of a conversation: `role` is "system", "user" or "assistant" (templates pass others through).
public struct ChatMessage: Sendable, Codable, Equatable {
  public var role: String
  public var content: String

  public init(role: String, content: String) {
    self.role = role
    self.content = content
  }
}

/// Renders a conversation into the prompt text a chat model was trained on.
///
/// Not a Jinja engine: `init(jinja:)` recognizes the common template shapes by their marker tokens and renders
/// them natively, bit-exact with the Jinja output for the templates these shapes come from:
/// - ChatML (`<|im_start|>role\n…<|im_end|>\n`), with the default system prompt the template inserts when the
///   first message is not a system message (SmolLM2, Qwen2);
/// - Llama 3 headers (`<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>`, content trimmed);
/// - Zephyr (`<|user|>\n…</s>\n`);
/// - Mistral `[INST] … [/INST]` (the system prompt joins the first user message).
/// BOS is never rendered; callers add it when the tokenizer's `addBOS` says so (as llama.cpp does).
/// ref: transformers `apply_chat_template` (jinja2 with trim_blocks and lstrip_blocks);
///      llama.cpp `llama-chat.cpp` (template detection by markers).
public struct ChatTemplate: Sendable {
  enum Style: Sendable, Equatable {
    case chatML(defaultSystem: String?)
    case llama3
    case zephyr
    case mistral
  }

  let style: Style
  /// The Jinja text this template was recognized from, kept so files written from this model carry it on.
  public let source: String?

  init(style: Style, source: String? = nil) {
    self.style = style
    self.source = source
  }

  /// Recognizes the template shape of a GGUF `tokenizer.chat_template` or tokenizer_config.json `chat_template`.
  /// A nil template (the model ships none) gives plain ChatML without a system prompt, as llama.cpp does;
  /// a template of an unknown shape throws `TokenizerError` (`.unsupportedChatTemplate`).
  public init(jinja: String?) throws {
    guard let jinja else {
      self.init(style: .chatML(defaultSystem: nil))
      return
    }
    if jinja.contains("<|im_start|>") {
      self.init(style: .chatML(defaultSystem: Self.defaultChatMLSystem(in: jinja)), source: jinja)
    } else if jinja.contains("<|start_header_id|>") {
      self.init(style: .llama3, source: jinja)
    } else if jinja.contains("<|user|>") {
      self.init(style: .zephyr, source: jinja)
    } else if jinja.contains("[INST]") {
      self.init(style: .mistral, source: jinja)
    } else {
      let head = jinja.prefix(80).split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\\n")
      throw TokenizerError(
        .unsupportedChatTemplate, source: "chat template", location: "",
        "unrecognized template starting \"\(head)\"; known shapes are ChatML, Llama 3, Zephyr and "
          + "Mistral [INST]; use ChatTemplate.chatML(defaultSystem:) to force ChatML")
    }
  }

  /// ChatML, with `defaultSystem` rendered as the system turn when the conversation does not start with one.
  public static func chatML(defaultSystem: String?) -> ChatTemplate {
    ChatTemplate(style: .chatML(defaultSystem: defaultSystem))
  }

  /// The text that ends an assistant turn: generation stops when it is produced.
  public var endOfTurn: String {
    switch style {
    case .chatML: return "<|im_end|>"
    case .llama3: return "<|eot_id|>"
    case .zephyr, .mistral: return "</s>"
    }
  }

  /// The prompt text for `messages`; with `addGenerationPrompt`, followed by the opening of an assistant turn.
  public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
    var out = ""
    switch style {
    case .chatML(let defaultSystem):
      if let defaultSystem, let first = messages.first, first.role != "system" {
        out += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
      }
      for message in messages {
        out += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n"
      }
      if addGenerationPrompt { out += "<|im_start|>assistant\n" }
    case .llama3:
      for message in messages {
        out += "<|start_header_id|>\(message.role)<|end_header_id|>\n\n\(Self.trimmed(message.content))<|eot_id|>"
      }
      if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
    case .zephyr:
      for message in messages {
        out += "<|\(message.role)|>\n\(message.content)</s>\n"
      }
      // Zephyr's template opens the assistant turn inside its message loop: never for an empty conversation.
      if addGenerationPrompt && !messages.isEmpty { out += "<|assistant|>\n" }
    case .mistral:
      var system: String? = nil
      for message in messages {
        switch message.role {
        case "system":
          system = message.content
        case "user":
          let content = system.map { "\($0)\n\n\(message.content)" } ?? message.content
          system = nil
          out += "[INST] \(content) [/INST]"
        default:
          out += "\(message.content)</s>"
        }
      }
    }
    return out
  }

  /// Jinja's `trim`: strips leading and trailing whitespace.
  static func trimmed(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
      let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
    else { return "" }
    return String(scalars[first...last])
  }

  /// The default system prompt of a ChatML template: the first string literal of the form
  /// `<|im_start|>system\n TEXT <|im_end|>` whose TEXT holds no Jinja code (SmolLM2: "You are a helpful AI
  /// assistant named SmolLM, trained by Hugging Face"); nil when the template has none.
  static func defaultChatMLSystem(in jinja: String) -> String? {
    let opener = "<|im_start|>system"
    var rest = jinja[...]
    while let open = rest.firstRange(of: opener) {
      rest = rest[open.upperBound...]
      var body = rest
      if body.hasPrefix("\n") {
        body = body.dropFirst()
      } else if body.hasPrefix("\\n") {
        body = body.dropFirst(2)
      } else {
        continue
      }
      guard let close = body.firstRange(of: "<|im_end|>") else { return nil }
      let text = body[..<close.lowerBound]
      if text.isEmpty || text.contains(where: { "'\"{}+".contains($0) }) { continue }
      return unescapeJinjaLiteral(String(text))
    }
    return nil
  }

  /// Undoes the escapes of a Jinja string literal (`\n`, `\t`, `\\`, `\'`, `\"`).
  static func unescapeJinjaLiteral(_ text: String) -> String {
    guard text.contains("\\") else { return text }
    var out = ""
    var escaped = false
    for character in text {
      if escaped {
        switch character {
        case "n": out.append("\n")
        case "t": out.append("\t")
        default: out.append(character)
        }
        escaped = false
      } else if character == "\\" {
        escaped = true
      } else {
        out.append(character)
      }
    }
    return out
  }
}
