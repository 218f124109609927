/// What `eval --json` prints, one type per mode, each inside a `CommandReport` (with the memory figures).
extension Eval {
  /// --text: the mean loss and perplexity over windows of `context` tokens.
  struct TextResult: Codable {
    var meanLoss: Double
    var perplexity: Double
    var tokens: Int
    /// Tokens scored (each window's first token has nothing before it).
    var predicted: Int
    var context: Int
    var tokensPerSecond: Double

    enum CodingKeys: String, CodingKey {
      case perplexity, tokens, predicted, context
      case meanLoss = "mean_loss"
      case tokensPerSecond = "tokens_per_second"
    }
  }

  /// --data: exact match of greedy answers, and the mean loss of the reference tokens (null when no record has
  /// any: the key stays, so scripts can read it).
  struct DatasetResult: Codable {
    var exactMatch: Double
    var matches: Int
    var examples: Int
    var meanLoss: Double?
    var lossTokens: Int?
    var samples: [Sample]
    var seconds: Double

    /// One evaluated record: its prompt as the model saw it, the reference and the greedy answer.
    struct Sample: Codable {
      var prompt: String
      var reference: String
      var generated: String
    }

    enum CodingKeys: String, CodingKey {
      case matches, examples, samples, seconds
      case exactMatch = "exact_match"
      case meanLoss = "mean_loss"
      case lossTokens = "loss_tokens"
    }

    init(
      exactMatch: Double, matches: Int, examples: Int, meanLoss: Double?, lossTokens: Int?, samples: [Sample],
      seconds: Double
    ) {
      (self.exactMatch, self.matches, self.examples) = (exactMatch, matches, examples)
      (self.meanLoss, self.lossTokens, self.samples, self.seconds) = (meanLoss, lossTokens, samples, seconds)
    }

    /// nil losses as null, not left out.
    func encode(to encoder: any Encoder) throws {
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

  /// --reward: a reward model's pairwise accuracy (chosen scored above rejected), mean margin, loss and scores.
  struct RewardResult: Codable {
    var accuracy: Double
    var pairs: Int
    var correct: Int
    var meanMargin: Double
    var meanLoss: Double
    var meanChosen: Double
    var meanRejected: Double
    var seconds: Double

    enum CodingKeys: String, CodingKey {
      case accuracy, pairs, correct, seconds
      case meanMargin = "mean_margin"
      case meanLoss = "mean_loss"
      case meanChosen = "mean_chosen"
      case meanRejected = "mean_rejected"
    }
  }
}
