import Formats

extension Generate {
  /// `generate --json`: the text, the prompt's and the generated token ids, speeds and the anonymous memory (the
  /// weights stay file-backed), inside a `CommandReport`.
  struct Result: Codable {
    var text: String
    var promptTokens: Int
    var promptIDs: [Int]
    var generatedIDs: [Int]
    var promptTokensPerSecond: Double
    var generationTokensPerSecond: Double
    var rssAnonBytes: Int

    enum CodingKeys: String, CodingKey {
      case text
      case promptTokens = "prompt_tokens"
      case promptIDs = "prompt_ids"
      case generatedIDs = "generated_ids"
      case promptTokensPerSecond = "prompt_tokens_per_second"
      case generationTokensPerSecond = "generation_tokens_per_second"
      case rssAnonBytes = "rss_anon_bytes"
    }
  }

  /// One line of `generate --prompts` output: the prompt as the line gave it (a string or a list of messages), the
  /// text the model was given (after its chat template: what another tool needs to reproduce the answer), the
  /// answer and its length in tokens.
  struct BatchAnswer: Codable {
    var prompt: JSONValue
    var renderedPrompt: String
    var answer: String
    var tokens: Int

    enum CodingKeys: String, CodingKey {
      case prompt, answer, tokens
      case renderedPrompt = "rendered_prompt"
    }
  }
}
