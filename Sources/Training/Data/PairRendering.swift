public import Model

/// How a plain {"prompt", "completion"} string pair reaches a model: through its chat template as a user turn and an
/// assistant turn (the default for a model that has a template, as MLX-LM does it: the user will talk to the
/// result through that template, and pairs trained as raw text measured ~18 points lower on held-out exact match),
/// or as raw text, prompt + completion (TRL's convention for non-conversational data; `--raw-pairs`). Training,
/// evaluation and preference data all go through `apply(to:)`, so they agree.
public enum PairRendering: String, Sendable, Codable {
  case chatTemplate = "chat-template"
  case raw

  /// Chat-template rendering unless `raw` is asked for or the model has no template of its own.
  public init(template: ChatTemplate, raw: Bool) {
    self = raw || template.source == nil ? .raw : .chatTemplate
  }

  /// `record` as the model will see it: a string pair becomes a conversational pair under `.chatTemplate`; every
  /// other record is unchanged.
  public func apply(to record: DataRecord) -> DataRecord {
    guard self == .chatTemplate, case .promptCompletion(let prompt, let completion) = record else { return record }
    return .conversationalPromptCompletion(
      prompt: [ChatMessage(role: "user", content: prompt)],
      completion: [ChatMessage(role: "assistant", content: completion)])
  }

  /// One line for a run's log and its report.
  public var description: String {
    switch self {
    case .chatTemplate:
      "plain prompt/completion pairs go through the model's chat template as user and assistant turns (--raw-pairs "
        + "trains them as raw text)"
    case .raw: "plain prompt/completion pairs are trained as raw text, prompt + completion"
    }
  }
}
