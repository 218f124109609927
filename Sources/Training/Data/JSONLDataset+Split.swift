extension JSONLDataset {
  /// Splits off a validation set: `fraction` of the examples (rounded, at least one, leaving at least one for
  /// training), chosen by a seeded shuffle so the same file, fraction and seed always give the same split. Both
  /// parts keep file order.
  public func split(fraction: Double, seed: UInt64) throws(TrainingError) -> (
    train: JSONLDataset, validation: JSONLDataset
  ) {
    guard fraction > 0 && fraction < 1 else {
      throw .invalidOption(name: "validation fraction", reason: "must be between 0 and 1 (exclusive), not \(fraction)")
    }
    guard count >= 2 else {
      throw .emptyDataset(path: path, reason: "\(count) example cannot be split into training and validation sets")
    }
    let validationCount = min(count - 1, max(1, Int((fraction * Double(count)).rounded())))
    var order = Array(0..<count)
    var random = DataRandom(seed: seed, stream: [0x7370_6C69_74])  // "split"
    random.shuffle(&order)
    let validation = order[..<validationCount].sorted()
    let train = order[validationCount...].sorted()
    return (subset(train), subset(validation))
  }

  /// The training set of `trainPath` and its validation set: the file `validationPath` when given (a `--val`
  /// file), else `validationFraction` of the training file split off by `split(fraction:seed:)`, else none.
  public static func loadWithValidation(
    trainPath: String, validationPath: String?, validationFraction: Double, seed: UInt64, encoder: ExampleEncoder
  ) throws(TrainingError) -> (train: JSONLDataset, validation: JSONLDataset?) {
    let train = try load(path: trainPath, encoder: encoder)
    if let validationPath { return (train, try load(path: validationPath, encoder: encoder)) }
    guard validationFraction > 0 else { return (train, nil) }
    let parts = try train.split(fraction: validationFraction, seed: seed)
    return (parts.train, parts.validation)
  }
}
