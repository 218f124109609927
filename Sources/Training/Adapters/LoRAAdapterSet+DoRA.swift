public import Memory
public import Model

/// DoRA on a LoRA adapter set (`LoRAConfig.useDoRA`): a magnitude vector per targeted projection, stored after its
/// A and B under PEFT's key (`….q_proj.lora_magnitude_vector`, shape (out)), and the frozen rows' norms the layer
/// divides by, measured from the base model by `attach`.
extension LoRAAdapterSet {
  /// PEFT's state-dict key of DoRA's magnitude on a projection (get_peft_model_state_dict drops the adapter name
  /// and the module's ".weight").
  public static func magnitudeKey(layer: Int, target: ProjectionTarget) -> String {
    "base_model.model.model.layers.\(layer).\(target.modulePath).lora_magnitude_vector"
  }

  /// The ledger label of the frozen rows' norms.
  public static let baseNormsLabel = "dora-norms"

  /// DoRA's magnitude (out) of a targeted projection, nil without DoRA or adapter there.
  public func magnitude(layer: Int, target: ProjectionTarget) -> ParameterTensor? {
    guard config.useDoRA else { return nil }
    return index(layer: layer, target: target).map { parameters.tensors[$0 + 2] }
  }

  /// Measures ‖W_j‖² of every targeted frozen weight of `model` (one pass over those weights) and, when
  /// `initializeMagnitudes`, sets each magnitude to ‖W_j‖ as PEFT does, so the adapted model starts as the base.
  /// A DoRA set must be attached before a forward uses it; without DoRA this does nothing.
  public func attach(to model: LanguageModel, initializeMagnitudes: Bool, ledger: MemoryLedger) throws {
    guard config.useDoRA else { return }
    let count = baseNormsOffset(layer: model.config.layerCount, target: config.targets[0])
    let norms = try AnonymousBuffer<Float>(count: count, label: Self.baseNormsLabel, ledger: ledger)
    let tiles = try DecodeTiles(workers: 1, ledger: ledger)
    for layer in 0..<model.config.layerCount {
      model.beginLayer(layer, next: layer + 1)
      for target in config.targets {
        let rowNorms = norms.pointer + baseNormsOffset(layer: layer, target: target)
        rowNormsSquared(of: target.matrix(in: model.weights.layers[layer]), into: rowNorms, tiles: tiles)
        if initializeMagnitudes, let m = magnitude(layer: layer, target: target) {
          for j in 0..<m.count { m.value[j] = rowNorms[j].squareRoot() }
        }
      }
      model.endLayer(layer)
    }
    baseRowNorms = BaseRowNorms(squared: norms)
  }

  /// The DoRA view of a projection, nil without DoRA.
  func dora(layer: Int, target: ProjectionTarget) -> DoRAView? {
    guard let m = magnitude(layer: layer, target: target) else { return nil }
    guard let norms = baseRowNorms?.squared.pointer else {
      preconditionFailure("a DoRA adapter was used before attach(to:) measured the base weights")
    }
    return DoRAView(
      magnitude: m.value.baseAddress!, gradMagnitude: m.gradient.baseAddress!,
      baseRowNormsSquared: norms + baseNormsOffset(layer: layer, target: target))
  }

  /// Where a projection's rows start among the frozen-row norms: layer by layer, targets in config order (the layer
  /// count and the first target give the total).
  func baseNormsOffset(layer: Int, target: ProjectionTarget) -> Int {
    let perLayer = config.targets.reduce(0) { $0 + $1.shape(model).out }
    let position = config.targets.firstIndex(of: target)!
    return layer * perLayer + config.targets[..<position].reduce(0) { $0 + $1.shape(model).out }
  }
}

/// ‖W_j‖² of the frozen rows under a DoRA set's projections (a class, so the set can hold the buffer once measured).
final class BaseRowNorms {
  let squared: AnonymousBuffer<Float>
  init(squared: consuming AnonymousBuffer<Float>) { self.squared = squared }
}
