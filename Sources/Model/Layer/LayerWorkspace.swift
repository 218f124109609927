/// Pointers to where one layer's forward reads and writes, for T tokens. Shapes: d hidden, q heads·headDim,
/// kv kvHeads·headDim, f intermediate, rot the rotary dimension.
///
/// Buffers may alias when the caller keeps no value past its next use: inference runs the residual stream in place
/// (`input`, `middle` and `output` are one buffer) and reuses one (T, d) buffer for both norms and both projected
/// sublayer outputs, and one (T, f) buffer for the gate and the activation; training keeps each apart for backward.
public struct LayerBuffers {
  public var input: UnsafeMutablePointer<Float>  // (T, d) the residual stream entering the layer
  public var normed1: UnsafeMutablePointer<Float>  // (T, d)
  public var query: UnsafeMutablePointer<Float>  // (T, q)
  public var keys: UnsafeMutablePointer<Float>  // (T, kv)
  public var values: UnsafeMutablePointer<Float>  // (T, kv)
  public var attention: UnsafeMutablePointer<Float>  // (T, q)
  public var projected: UnsafeMutablePointer<Float>  // (T, d) o_proj's, then down_proj's output
  public var middle: UnsafeMutablePointer<Float>  // (T, d) the residual after attention
  public var normed2: UnsafeMutablePointer<Float>  // (T, d)
  public var gate: UnsafeMutablePointer<Float>  // (T, f)
  public var up: UnsafeMutablePointer<Float>  // (T, f)
  public var activated: UnsafeMutablePointer<Float>  // (T, f) silu(gate)·up
  public var output: UnsafeMutablePointer<Float>  // (T, d) the residual stream leaving the layer
  public var rotaryCos: UnsafePointer<Float>  // (T, rot/2)
  public var rotarySin: UnsafePointer<Float>  // (T, rot/2)

  public init(
    input: UnsafeMutablePointer<Float>, normed1: UnsafeMutablePointer<Float>, query: UnsafeMutablePointer<Float>,
    keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, attention: UnsafeMutablePointer<Float>,
    projected: UnsafeMutablePointer<Float>, middle: UnsafeMutablePointer<Float>,
    normed2: UnsafeMutablePointer<Float>, gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>,
    activated: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, rotaryCos: UnsafePointer<Float>,
    rotarySin: UnsafePointer<Float>
  ) {
    self.input = input
    self.normed1 = normed1
    self.query = query
    self.keys = keys
    self.values = values
    self.attention = attention
    self.projected = projected
    self.middle = middle
    self.normed2 = normed2
    self.gate = gate
    self.up = up
    self.activated = activated
    self.output = output
    self.rotaryCos = rotaryCos
    self.rotarySin = rotarySin
  }
}

/// Where a layer's forward puts what it computes: the inference session's KV cache and reused buffers, or the
/// training graph's saved activations that its backward reads. `forwardLayer` is written once against this.
public protocol LayerWorkspace {
  /// The buffers of layer `index`.
  func buffers(layer index: Int) -> LayerBuffers
  /// attention = causal self-attention of `query` over this call's `keys` and `values` (with the cache's earlier
  /// positions in inference; within each packed segment in training).
  func attend(layer index: Int, _ buffers: LayerBuffers, tokens: Int)
  /// LoRA's hidden state (T, rank) for one projection, and the dropout mask of its input (nil: no dropout).
  func loraBuffers(layer index: Int, target: ProjectionTarget, tokens: Int, width: Int) -> (
    hidden: UnsafeMutablePointer<Float>, dropoutMask: UnsafePointer<Float>?
  )
  /// The buffers of a DoRA projection's forward (`DoRABuffers`) for a LoRA pair of rank `rank`.
  func doraBuffers(layer index: Int, target: ProjectionTarget, tokens: Int, rank: Int) -> DoRABuffers
  /// Where to keep x before IA3 scales it (the backward's input), or nil when nothing needs it.
  func unscaledStore(layer index: Int, target: ProjectionTarget) -> UnsafeMutablePointer<Float>?
  /// Calls `body` with the bottleneck branch's input (`sublayerOutput` itself, or a copy kept for backward) and its
  /// pre-activation and activation buffers, each (T, size).
  func withBottleneckBuffers(
    layer index: Int, placement: AdapterPlacement, sublayerOutput: UnsafeMutablePointer<Float>, tokens: Int,
    size: Int,
    _ body: (
      _ input: UnsafePointer<Float>, _ preActivation: UnsafeMutablePointer<Float>,
      _ activated: UnsafeMutablePointer<Float>
    ) -> Void)
}
