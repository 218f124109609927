/// One tokenized training sequence and which of its tokens the loss is computed on.
///
/// `lossMask[t]` says whether predicting `tokens[t]` (from `tokens[..<t]`) counts in the loss; `lossMask[0]` is
/// never used, as nothing predicts the first token. The next-token view a trainer consumes is `targets`.
public struct TrainingExample: Sendable, Equatable, Codable {
  /// Token ids, (T): BOS first when the tokenizer asks for it, EOS last when one was appended.
  public var tokens: [Int32]
  /// (T): true where the token is trained on.
  public var lossMask: [Bool]

  public init(tokens: [Int32], lossMask: [Bool]) {
    precondition(tokens.count == lossMask.count, "one mask entry per token")
    self.tokens = tokens
    self.lossMask = lossMask
  }

  public var count: Int { tokens.count }

  /// Next-token targets, (T): `targets[t] = tokens[t + 1]` when `lossMask[t + 1]`, else -1; the last is -1.
  /// Position t's logits are scored against `targets[t]` (cross-entropy ignores -1), the convention of
  /// Hugging Face's shifted labels with ignore index -100, written here as -1.
  public var targets: [Int32] {
    var targets = [Int32](repeating: -1, count: tokens.count)
    for t in 0..<max(0, tokens.count - 1) where lossMask[t + 1] { targets[t] = tokens[t + 1] }
    return targets
  }

  /// How many positions have a target: mask entries that are on, not counting the first token.
  public var targetCount: Int {
    lossMask.dropFirst().reduce(0) { $0 + ($1 ? 1 : 0) }
  }

  /// Keeps the first `length` tokens (the start of a document or the prompt and the beginning of its answer,
  /// as TRL's and MLX-LM's truncation do); returns whether anything was cut.
  @discardableResult
  public mutating func truncate(to length: Int) -> Bool {
    guard tokens.count > length else { return false }
    tokens.removeLast(tokens.count - length)
    lossMask.removeLast(lossMask.count - length)
    return true
  }
}
