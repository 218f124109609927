/// Which RMSNorm of a layer: before attention (input_layernorm) or before the MLP (post_attention_layernorm).
public enum NormPosition: Int, Sendable, CaseIterable {
  case attention = 0
  case mlp = 1

  /// The Hugging Face tensor name inside `model.layers.N`.
  public var tensorName: String { self == .attention ? "input_layernorm.weight" : "post_attention_layernorm.weight" }
}

/// Trainable copies of norm weights used instead of the frozen ones (selective tuning of norms), with gradients.
public protocol NormOverrideProvider: AnyObject {
  func norm(layer: Int, position: NormPosition) -> (
    weight: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>
  )?
  /// The final norm (model.norm.weight), or nil to keep the frozen one.
  var finalNorm: (weight: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>)? { get }
}

extension LanguageModel {
  /// This model with `norms`' weights in place of the frozen norm vectors (what `merge` writes out).
  public func replacingNorms(_ norms: any NormOverrideProvider) -> LanguageModel {
    var weights = self.weights
    let d = config.hiddenSize
    for index in weights.layers.indices {
      if let n = norms.norm(layer: index, position: .attention) {
        weights.layers[index].attentionNorm = Array(UnsafeBufferPointer(start: n.weight, count: d))
      }
      if let n = norms.norm(layer: index, position: .mlp) {
        weights.layers[index].mlpNorm = Array(UnsafeBufferPointer(start: n.weight, count: d))
      }
    }
    if let n = norms.finalNorm { weights.finalNorm = Array(UnsafeBufferPointer(start: n.weight, count: d)) }
    return LanguageModel(self, weights: weights)
  }
}
