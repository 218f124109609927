public import Memory
public import Model

/// What a parameter-efficient method adds to the frozen base, as the trainer and the graph see it: its trainable
/// tensors in one `ParameterStore`, the hooks the forward and backward passes call (LoRA views on projections,
/// virtual-token embeddings), and its own output format. One trainer, one optimizer, one checkpoint format for all.
public protocol TrainableMethod: AnyObject {
  /// The method's name in reports and checkpoints: "lora", "prompt", ….
  var methodName: String { get }
  /// Every trainable tensor's value and gradient.
  var parameters: ParameterStore { get }
  /// LoRA parts on projections, or nil.
  var lora: (any LoRAProvider)? { get }
  /// Trainable virtual-token embeddings (a soft prompt), or nil.
  var virtualTokens: (any VirtualTokenGradients)? { get }
  /// Bottleneck adapters inserted after attention and/or the MLP, or nil.
  var bottlenecks: (any BottleneckProvider)? { get }
  /// IA3 scaling vectors, or nil.
  var scalings: (any ScalingVectorProvider)? { get }
  /// Trainable norm weights (selective tuning), or nil.
  var norms: (any NormOverrideProvider)? { get }
  /// Trainable projection matrices (selective tuning of whole layers), or nil.
  var matrices: (any MatrixOverrideProvider)? { get }
  /// Seeds per-row randomness (LoRA dropout masks).
  var seed: UInt64 { get }
  /// LoRA's dropout probability on the input of A (0 for methods without it).
  var loraDropout: Float { get }
  /// Writes the method's result to `directory` in its interchange format (PEFT for LoRA and soft prompts).
  func save(to directory: String, baseModel: String?, overwrite: Bool) throws
  /// Copies the values `save` wrote to `directory` into `parameters`, refusing a result of another shape or kind.
  func restoreValues(from directory: String, ledger: MemoryLedger) throws
}

extension TrainableMethod {
  public var bottlenecks: (any BottleneckProvider)? { nil }
  public var scalings: (any ScalingVectorProvider)? { nil }
  public var norms: (any NormOverrideProvider)? { nil }
  public var matrices: (any MatrixOverrideProvider)? { nil }
  public var loraDropout: Float { 0 }
}

extension LoRAAdapterSet: TrainableMethod {
  public var methodName: String { "lora" }
  public var lora: (any LoRAProvider)? { self }
  public var virtualTokens: (any VirtualTokenGradients)? { nil }
  public var bottlenecks: (any BottleneckProvider)? { nil }
  public var seed: UInt64 { config.seed }
  public var loraDropout: Float { Float(config.dropout) }

  public func restoreValues(from directory: String, ledger: MemoryLedger) throws {
    let saved = try LoRAAdapterSet.load(from: directory, model: model, ledger: ledger)
    guard saved.config.rank == config.rank, saved.config.targets == config.targets,
      saved.parameters.count == parameters.count
    else {
      throw TrainingError.checkpoint(
        path: directory, reason: "the checkpoint's LoRA rank or targets differ from this run's")
    }
    parameters.allValues.baseAddress!.update(from: saved.parameters.allValues.baseAddress!, count: parameters.count)
  }
}
