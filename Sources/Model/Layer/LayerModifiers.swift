/// What a method changes in the frozen layers: the hooks both the inference session and the training graph consult
/// (LoRA pairs, IA3 vectors, bottleneck adapters, trainable norms and matrices). Each is nil where the method has
/// none, and the frozen model is used there.
public struct LayerModifiers {
  public var lora: (any LoRAProvider)?
  public var scalings: (any ScalingVectorProvider)?
  public var bottlenecks: (any BottleneckProvider)?
  public var norms: (any NormOverrideProvider)?
  public var matrices: (any MatrixOverrideProvider)?

  public init(
    lora: (any LoRAProvider)? = nil, scalings: (any ScalingVectorProvider)? = nil,
    bottlenecks: (any BottleneckProvider)? = nil, norms: (any NormOverrideProvider)? = nil,
    matrices: (any MatrixOverrideProvider)? = nil
  ) {
    self.lora = lora
    self.scalings = scalings
    self.bottlenecks = bottlenecks
    self.norms = norms
    self.matrices = matrices
  }

  /// The matrix a projection uses: the method's trainable copy when it has one, else the frozen one.
  public func weight(_ layerIndex: Int, _ target: ProjectionTarget, in layer: LayerWeights) -> any FrozenMatrix {
    matrices?.matrix(layer: layerIndex, target: target)?.matrix ?? target.matrix(in: layer)
  }

  /// Calls `body` with the norm weight in use (the method's trainable copy, or `frozen`) and, for a trainable copy,
  /// its gradient. `layer` nil means the final norm.
  public func withNorm(
    _ layer: Int?, _ position: NormPosition, frozen: [Float],
    _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>?) -> Void
  ) {
    if let trainable = layer.map({ norms?.norm(layer: $0, position: position) }) ?? norms?.finalNorm {
      body(trainable.weight, trainable.gradient)
    } else {
      frozen.withUnsafeBufferPointer { body($0.baseAddress!, nil) }
    }
  }
}
