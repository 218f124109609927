import Formats
import Model

extension SupervisedObjective {
  /// Next-token loss on the configuration's data: every source tokenized up front (bad input stops the run before
  /// training), mixed by weight and packed into rows; held-out data from `validation` or split off the first source.
  public static func prepare(_ context: ObjectiveContext) throws -> PreparedObjective {
    let o = context.configuration
    guard !o.data.isEmpty else { throw TrainingError.invalidOption(name: "data", reason: "give the training data") }
    var sources: [(dataset: JSONLDataset, weight: Double)] = []
    var validation: JSONLDataset?
    for (i, spec) in o.data.enumerated() {
      var dataset = try JSONLDataset.load(path: spec.path, encoder: context.encoder)
      context.note("data \(spec.path): \(dataset.report.summary)")
      if i == 0 && o.validation == nil && o.validationFraction > 0 && dataset.count >= 20 {
        let parts = try dataset.split(fraction: o.validationFraction, seed: o.seed)
        dataset = parts.train
        validation = parts.validation
      }
      sources.append((dataset, spec.weight))
    }
    if let path = o.validation { validation = try JSONLDataset.load(path: path, encoder: context.encoder) }
    let packer = try SequencePacker(batchSize: o.batch, seqLen: o.seqLen, model: context.model)
    let stream = BatchStream(packer: packer, mixture: try DataMixture(sources: sources, seed: o.seed))
    // validate() refused a product that overflows.
    let tokensPerStep = o.tokensPerStep ?? Int.max
    let corpusTokens = sources.reduce(0) { $0 + $1.dataset.report.tokens }
    if tokensPerStep > corpusTokens {
      // Not an error (a tiny data set may be meant to repeat), but a step that passes over the data many times makes
      // a run far longer than its step count suggests: say so before it starts.
      context.note(
        "notice: one step reads \(tokensPerStep) tokens (batch \(o.batch) × seqLen \(o.seqLen) × gradAccum "
          + "\(o.gradientAccumulation)), \(tokensPerStep / max(corpusTokens, 1))× the \(corpusTokens) training tokens: "
          + "every step repeats the data; lower the batch or the gradient accumulation for shorter steps")
    }
    return PreparedObjective(
      objective: SupervisedObjective(
        stream: stream, sources: sources, validation: validation, gradientAccumulation: o.gradientAccumulation),
      stepsPerEpoch: Double(corpusTokens) / Double(tokensPerStep), stepUnits: "\(tokensPerStep) tokens")
  }
}
