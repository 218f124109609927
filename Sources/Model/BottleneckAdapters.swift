public import Tensor

/// Where a bottleneck adapter sits in a layer: on the attention block's output (after o_proj) or on the MLP's
/// output (after down_proj), before the residual add in both cases.
public enum AdapterPlacement: Int, Sendable, CaseIterable {
  case attention = 0
  case mlp = 1

  /// The name in tensor keys and configs.
  public var name: String { self == .attention ? "attention_adapter" : "output_adapter" }
}

/// One bottleneck adapter's tensors: W_down (r, d), b_down (r), W_up (d, r), b_up (d), their gradients, and its
/// non-linearity. Borrowed views, valid while the provider lives.
public struct BottleneckView {
  public var down, downBias, up, upBias: UnsafeMutablePointer<Float>
  public var downGradient, downBiasGradient, upGradient, upBiasGradient: UnsafeMutablePointer<Float>
  public var size: Int
  public var activation: BottleneckActivation

  public init(
    down: UnsafeMutablePointer<Float>, downBias: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>,
    upBias: UnsafeMutablePointer<Float>, downGradient: UnsafeMutablePointer<Float>,
    downBiasGradient: UnsafeMutablePointer<Float>, upGradient: UnsafeMutablePointer<Float>,
    upBiasGradient: UnsafeMutablePointer<Float>, size: Int, activation: BottleneckActivation
  ) {
    self.down = down
    self.downBias = downBias
    self.up = up
    self.upBias = upBias
    self.downGradient = downGradient
    self.downBiasGradient = downBiasGradient
    self.upGradient = upGradient
    self.upBiasGradient = upBiasGradient
    self.size = size
    self.activation = activation
  }
}

/// Bottleneck adapters inserted into a frozen model's layers (Houlsby: both placements; Pfeiffer: the MLP's only).
public protocol BottleneckProvider: AnyObject {
  func bottleneck(layer: Int, placement: AdapterPlacement) -> BottleneckView?
  /// The largest bottleneck size r (sizes saved activations).
  var maximumBottleneck: Int { get }
}
