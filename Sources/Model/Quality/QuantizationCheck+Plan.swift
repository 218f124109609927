public import Memory

extension QuantizationCheck {
  /// The check's own phase of a conversion, after the conversion's buffers are gone: a session over the sample's one
  /// window (its KV cache is most of it: 414 positions × 30 layers of SmolLM2 are 19 MB) with as many layers
  /// resident as `budget` allows (none without one), plus the converted model's second tokenizer. A conversion under a budget runs the
  /// check only when this fits, with its policy.
  public static func plan(source: LanguageModel, budget: Int?) -> (plan: MemoryPlan, policy: WeightResidency.Policy) {
    let window = min(source.encodePrompt(SampleText.english).count, source.config.contextLength)
    let vocabulary = source.tokenizer.vocabularySize
    let outputTokenizer = MemoryPlan.Line(
      "output tokenizer", WeightPlan.tokenizerBytes(vocabulary), .runtime,
      "the converted model's own \(vocabulary) tokens, loaded to score it")
    let fitted = InferencePlan.session(
      model: source, capacity: window, chunk: chunk, extra: [outputTokenizer], budget: budget)
    // Without a budget the check still streams, so convert's peak stays the conversion's whatever the model's size.
    return budget == nil ? (fitted.plan, .streaming(residentLayers: 0)) : fitted
  }

  /// Tokens per forward pass of the check's sessions.
  static let chunk = 128
}
