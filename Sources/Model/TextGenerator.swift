/// Prompt in, tokens out: prefill the prompt through the KV cache, then sample one token at a time until the
/// token budget, an end-of-sequence token or the template's end-of-turn token.
public struct TextGenerator {
  public struct Statistics: Sendable {
    public var promptTokens = 0
    public var generatedTokens = 0
    public var promptSeconds = 0.0
    public var generationSeconds = 0.0
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    public var generationTokensPerSecond: Double {
      generationSeconds > 0 ? Double(generatedTokens) / generationSeconds : 0
    }
  }

  public let session: InferenceSession
  public var sampler: Sampler
  /// Token ids that end generation (EOS, end-of-turn); empty to run to maxTokens.
  public var stopTokens: Set<Int32>

  public init(session: InferenceSession, sampler: Sampler, stopTokens: Set<Int32>) {
    self.session = session
    self.sampler = sampler
    self.stopTokens = stopTokens
  }

  /// Generates up to `maxTokens` tokens after `prompt`, calling `onToken` with each (the stop token included, so a
  /// caller can see why it stopped). Returns the generated ids and timings.
  public mutating func generate(
    prompt: [Int32], maxTokens: Int, onToken: (Int32) -> Void = { _ in }
  ) throws -> (tokens: [Int32], statistics: Statistics) {
    var statistics = Statistics()
    var output: [Int32] = []
    guard maxTokens > 0, !prompt.isEmpty else { return (output, statistics) }
    var next: Int32 = 0
    let promptStart = ContinuousClock.now
    var sampler = self.sampler
    try session.forward(prompt, logits: .last) { _, logits in next = sampler.sample(logits) }
    statistics.promptSeconds = (ContinuousClock.now - promptStart).seconds
    statistics.promptTokens = prompt.count
    let generationStart = ContinuousClock.now
    while true {
      output.append(next)
      onToken(next)
      if stopTokens.contains(next) || output.count >= maxTokens { break }
      try session.forward([next], logits: .last) { _, logits in next = sampler.sample(logits) }
    }
    statistics.generationSeconds = (ContinuousClock.now - generationStart).seconds
    statistics.generatedTokens = output.count
    self.sampler = sampler
    return (output, statistics)
  }
}
