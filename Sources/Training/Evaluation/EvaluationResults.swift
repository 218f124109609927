/// An evaluation's figures as `eval --json` prints them, one type per mode (inside a `CommandReport` with the memory
/// figures there).
public enum EvaluationResult {
  /// Perplexity of a text: the mean loss over windows of `context` tokens.
  public struct Text: Codable {
    public var meanLoss: Double
    public var perplexity: Double
    public var tokens: Int
    /// Tokens scored (each window's first token has nothing before it).
    public var predicted: Int
    public var context: Int
    public var tokensPerSecond: Double

    public init(
      meanLoss: Double, perplexity: Double, tokens: Int, predicted: Int, context: Int, tokensPerSecond: Double
    ) {
      (self.meanLoss, self.perplexity, self.tokens) = (meanLoss, perplexity, tokens)
      (self.predicted, self.context, self.tokensPerSecond) = (predicted, context, tokensPerSecond)
    }

    enum CodingKeys: String, CodingKey {
      case perplexity, tokens, predicted, context
      case meanLoss = "mean_loss"
      case tokensPerSecond = "tokens_per_second"
    }
  }

  /// A dataset: exact match of greedy answers, and the mean loss of the reference tokens (null when no record has
  /// any: the key stays, so scripts can read it).
  public struct Dataset: Codable {
    public var exactMatch: Double
    public var matches: Int
    public var examples: Int
    public var meanLoss: Double?
    public var lossTokens: Int?
    public var samples: [Sample]
    public var seconds: Double

    /// One evaluated record: its prompt as the model saw it, the reference and the greedy answer.
    public struct Sample: Codable {
      public var prompt: String
      public var reference: String
      public var generated: String

      public init(prompt: String, reference: String, generated: String) {
        (self.prompt, self.reference, self.generated) = (prompt, reference, generated)
      }
    }

    enum CodingKeys: String, CodingKey {
      case matches, examples, samples, seconds
      case exactMatch = "exact_match"
      case meanLoss = "mean_loss"
      case lossTokens = "loss_tokens"
    }

    public init(
      exactMatch: Double, matches: Int, examples: Int, meanLoss: Double?, lossTokens: Int?, samples: [Sample],
      seconds: Double
    ) {
      (self.exactMatch, self.matches, self.examples) = (exactMatch, matches, examples)
      (self.meanLoss, self.lossTokens, self.samples, self.seconds) = (meanLoss, lossTokens, samples, seconds)
    }

    /// nil losses as null, not left out.
    public func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(exactMatch, forKey: .exactMatch)
      try c.encode(matches, forKey: .matches)
      try c.encode(examples, forKey: .examples)
      try c.encode(meanLoss, forKey: .meanLoss)
      try c.encode(lossTokens, forKey: .lossTokens)
      try c.encode(samples, forKey: .samples)
      try c.encode(seconds, forKey: .seconds)
    }
  }

  /// A reward model on preference pairs: pairwise accuracy (chosen scored above rejected), mean margin, loss and
  /// scores.
  public struct Reward: Codable {
    public var accuracy: Double
    public var pairs: Int
    public var correct: Int
    public var meanMargin: Double
    public var meanLoss: Double
    public var meanChosen: Double
    public var meanRejected: Double
    public var seconds: Double

    public init(
      accuracy: Double, pairs: Int, correct: Int, meanMargin: Double, meanLoss: Double, meanChosen: Double,
      meanRejected: Double, seconds: Double
    ) {
      (self.accuracy, self.pairs, self.correct, self.meanMargin) = (accuracy, pairs, correct, meanMargin)
      (self.meanLoss, self.meanChosen, self.meanRejected, self.seconds) = (meanLoss, meanChosen, meanRejected, seconds)
    }

    enum CodingKeys: String, CodingKey {
      case accuracy, pairs, correct, seconds
      case meanMargin = "mean_margin"
      case meanLoss = "mean_loss"
      case meanChosen = "mean_chosen"
      case meanRejected = "mean_rejected"
    }
  }
}
