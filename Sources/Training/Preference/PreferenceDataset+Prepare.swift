extension PreferenceDataset {
  /// The pairs of a reward or DPO run: one data source without a mixing weight, and a validation set from the
  /// configuration's `validation` or split off.
  static func prepare(_ context: ObjectiveContext) throws -> (train: PreferenceDataset, validation: PreferenceDataset?)
  {
    let o = context.configuration
    guard o.data.count == 1, o.data[0].weight == 1 else {
      throw TrainingError.invalidOption(
        name: "data", reason: "preference training takes one file of pairs (no mixing weights)")
    }
    let train = try PreferenceDataset.load(path: o.data[0].path, encoder: context.encoder)
    context.note("data \(o.data[0].path): \(train.report.summary)")
    if let path = o.validation { return (train, try PreferenceDataset.load(path: path, encoder: context.encoder)) }
    if o.validationFraction > 0 && train.count >= 20 {
      let parts = try train.split(fraction: o.validationFraction, seed: o.seed)
      return (parts.train, parts.validation)
    }
    return (train, nil)
  }
}

extension PreparedObjective {
  /// A pair objective made by `make(pairsPerStep)` on the prepared pairs, epochs counted in pairs.
  static func pairs(
    _ context: ObjectiveContext, make: (PreferenceDataset, PreferenceDataset?, Int) throws -> any TrainingObjective
  ) throws -> PreparedObjective {
    let (train, validation) = try PreferenceDataset.prepare(context)
    let o = context.configuration
    let pairsPerStep = o.batch * o.gradientAccumulation
    var prepared = PreparedObjective(
      objective: try make(train, validation, pairsPerStep), stepsPerEpoch: Double(train.count) / Double(pairsPerStep),
      stepUnits: "\(pairsPerStep) pairs")
    prepared.pairs = train.count
    prepared.validationPairs = validation?.count ?? 0
    return prepared
  }
}
