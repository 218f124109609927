import Formats
import Foundation

/// AdamW's state in a checkpoint: a safetensors file with each tensor's moments as "<name>.exp_avg" and
/// "<name>.exp_avg_sq" (torch's state names; F32, the tensor's shape) and the step and hyperparameters in
/// `__metadata__`. Written atomically and checksummed by `SafetensorsWriter`; the moments are streamed a tensor at
/// a time through the state store, so a paged store never needs them all in RAM.
extension AdamW {
  static let kindKey = "edgetune.optimizer"
  static let stepKey = "edgetune.optimizer.step"
  static let beta1Key = "edgetune.optimizer.beta1"
  static let beta2Key = "edgetune.optimizer.beta2"
  static let epsilonKey = "edgetune.optimizer.epsilon"
  static let weightDecayKey = "edgetune.optimizer.weight_decay"

  /// Writes the step counter and both moments of every tensor of `parameters` to `path`.
  public func save(to path: String, parameters: ParameterStore) throws {
    precondition(parameters.count == state.count, "parameters do not match the optimizer state")
    var plans: [SafetensorsWriter.Plan] = []
    for tensor in parameters.tensors {
      for suffix in [".exp_avg", ".exp_avg_sq"] {
        plans.append(.init(name: tensor.name + suffix, dtype: "F32", shape: tensor.shape, byteCount: tensor.count * 4))
      }
    }
    let h = hyperparameters
    let metadata: [(String, String)] = [
      ("format", "pt"), (Self.kindKey, "adamw"), (Self.stepKey, String(stepCount)),
      (Self.beta1Key, h.beta1.description), (Self.beta2Key, h.beta2.description),
      (Self.epsilonKey, h.epsilon.description), (Self.weightDecayKey, h.weightDecay.description),
    ]
    let writer = try SafetensorsWriter(path: path, plans: plans, metadata: metadata)
    for tensor in parameters.tensors {
      // m of the whole tensor, then v: two passes over its pieces (a paged store may split it across pages).
      try state.forEachMomentSegment(tensor.range, dirtying: false) { _, m, _ in
        try writer.writePart(UnsafeRawBufferPointer(m))
      }
      try state.forEachMomentSegment(tensor.range, dirtying: false) { _, _, v in
        try writer.writePart(UnsafeRawBufferPointer(v))
      }
    }
    try writer.finish()
  }

  /// Restores the step counter and the moments saved by `save(to:parameters:)`.
  ///
  /// Every tensor of `parameters` must have both moments with its shape, the file must hold nothing else, its
  /// checksums must match, and β1, β2 must equal this optimizer's (the bias corrections depend on them). The
  /// state is left unchanged when any check fails.
  public func load(from path: String, parameters: ParameterStore) throws {
    precondition(parameters.count == state.count, "parameters do not match the optimizer state")
    func fail(_ reason: String) -> TrainingError { .checkpoint(path: path, reason: reason) }
    guard FileManager.default.fileExists(atPath: path) else { throw fail("optimizer state file is missing") }
    let file = try SafetensorsFile(path: path)
    guard file.metadata[Self.kindKey] == "adamw" else {
      throw fail("not an AdamW state file (\(Self.kindKey) is \(file.metadata[Self.kindKey] ?? "missing"))")
    }
    guard let stepText = file.metadata[Self.stepKey], let step = Int(stepText), step >= 0 else {
      throw fail("\(Self.stepKey) is missing or not a step count")
    }
    for (key, expected) in [(Self.beta1Key, hyperparameters.beta1), (Self.beta2Key, hyperparameters.beta2)] {
      guard let text = file.metadata[key], let value = Double(text) else { throw fail("\(key) is missing") }
      guard value == expected else {
        throw fail("saved with \(key.split(separator: ".").last!) = \(value), this run uses \(expected)")
      }
    }
    try Self.verifyChecksums(file)
    var expected: [String: [Int]] = [:]
    for tensor in parameters.tensors {
      expected[tensor.name + ".exp_avg"] = tensor.shape
      expected[tensor.name + ".exp_avg_sq"] = tensor.shape
    }
    for entry in file.entries {
      guard let shape = expected[entry.name] else {
        throw fail("tensor '\(entry.name)' does not belong to any trainable parameter of this run")
      }
      guard entry.dtype == "F32", entry.shape == shape else {
        throw fail("tensor '\(entry.name)' is \(entry.dtype) \(entry.shape), expected F32 \(shape)")
      }
    }
    for name in expected.keys.sorted() where file.entry(name) == nil {
      throw fail("tensor '\(name)' is missing")
    }
    for tensor in parameters.tensors {
      let m = try file.tensor(tensor.name + ".exp_avg")
      let v = try file.tensor(tensor.name + ".exp_avg_sq")
      try state.forEachMomentSegment(tensor.range, dirtying: true) { offset, mOut, vOut in
        let bytes = (offset * 4)..<((offset + mOut.count) * 4)
        UnsafeMutableRawBufferPointer(mOut).copyMemory(from: UnsafeRawBufferPointer(rebasing: m.bytes[bytes]))
        UnsafeMutableRawBufferPointer(vOut).copyMemory(from: UnsafeRawBufferPointer(rebasing: v.bytes[bytes]))
      }
    }
    stepCount = step
  }

  /// Checks the file's checksums (`SafetensorsFile.verifyChecksums`); a failure is a damaged checkpoint.
  static func verifyChecksums(_ file: SafetensorsFile) throws {
    do {
      try file.verifyChecksums()
    } catch {
      throw TrainingError.checkpoint(path: file.path, reason: "the file is damaged: \(error)")
    }
  }
}
