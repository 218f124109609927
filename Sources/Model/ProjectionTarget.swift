/// The seven linear projections of a Llama-family block that LoRA (and later methods) can attach to, with the
/// module names PEFT uses for them.
public enum ProjectionTarget: String, CaseIterable, Sendable, Codable {
  case q, k, v, o, gate, up, down

  /// PEFT / Hugging Face module name ("q_proj" ...).
  public var moduleName: String {
    switch self {
    case .q: "q_proj"
    case .k: "k_proj"
    case .v: "v_proj"
    case .o: "o_proj"
    case .gate: "gate_proj"
    case .up: "up_proj"
    case .down: "down_proj"
    }
  }

  /// "self_attn.q_proj" / "mlp.gate_proj": the module path inside `model.layers.N`.
  public var modulePath: String {
    switch self {
    case .q, .k, .v, .o: "self_attn." + moduleName
    case .gate, .up, .down: "mlp." + moduleName
    }
  }

  /// Accepts "q" or "q_proj".
  public init?(name: String) {
    if let target = ProjectionTarget(rawValue: name) {
      self = target
    } else if let target = ProjectionTarget.allCases.first(where: { $0.moduleName == name }) {
      self = target
    } else {
      return nil
    }
  }

  /// The frozen matrix of this projection in a layer.
  public func matrix(in layer: LayerWeights) -> any FrozenMatrix {
    switch self {
    case .q: layer.query
    case .k: layer.key
    case .v: layer.value
    case .o: layer.output
    case .gate: layer.gate
    case .up: layer.up
    case .down: layer.down
    }
  }

  /// (out, in) of this projection for a configuration.
  public func shape(_ c: ModelConfig) -> (out: Int, in: Int) {
    switch self {
    case .q: (c.queryDim, c.hiddenSize)
    case .k, .v: (c.kvDim, c.hiddenSize)
    case .o: (c.hiddenSize, c.queryDim)
    case .gate, .up: (c.intermediateSize, c.hiddenSize)
    case .down: (c.hiddenSize, c.intermediateSize)
    }
  }
}

/// One LoRA pair on one projection, as pointers into buffers its owner keeps: ΔW = scale · B·A.
/// - a: (rank, in), b: (out, rank); gradA, gradB the same shapes, accumulated into by backward.
public struct LoRAView: @unchecked Sendable {
  // @unchecked Sendable: views into buffers owned by the adapter set; the trainer uses them from one step at a time.
  public var a: UnsafeMutablePointer<Float>
  public var b: UnsafeMutablePointer<Float>
  public var gradA: UnsafeMutablePointer<Float>
  public var gradB: UnsafeMutablePointer<Float>
  public var rank: Int
  public var scale: Float
  /// DoRA's magnitude on this projection, or nil for plain LoRA.
  public var dora: DoRAView?

  public init(
    a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, gradA: UnsafeMutablePointer<Float>,
    gradB: UnsafeMutablePointer<Float>, rank: Int, scale: Float, dora: DoRAView? = nil
  ) {
    self.a = a
    self.b = b
    self.gradA = gradA
    self.gradB = gradB
    self.rank = rank
    self.scale = scale
    self.dora = dora
  }
}

/// Where the trainer finds the trainable low-rank parts: nil for a projection without one.
public protocol LoRAProvider {
  func lora(layer: Int, target: ProjectionTarget) -> LoRAView?
  /// The largest rank in use (sizes the trainer's hidden buffers).
  var maximumRank: Int { get }
  /// Whether any projection has a DoRA magnitude (the layer then needs DoRA's buffers).
  var hasDoRA: Bool { get }
}

extension LoRAProvider {
  public var hasDoRA: Bool { false }
}
