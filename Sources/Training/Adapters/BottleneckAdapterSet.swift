import Foundation
public import Memory
public import Model
public import Tensor

/// What a bottleneck-adapter run inserts: where (Houlsby: after attention and after the MLP; Pfeiffer: after the MLP
/// only), how small (hidden size / reduction factor) and with which non-linearity.
public struct BottleneckConfig: Sendable, Equatable {
  public enum Architecture: String, Sendable, CaseIterable {
    case houlsby, pfeiffer

    public var placements: [AdapterPlacement] { self == .houlsby ? [.attention, .mlp] : [.mlp] }
  }

  public var architecture: Architecture
  public var reductionFactor: Int
  public var activation: BottleneckActivation
  public var seed: UInt64

  public init(
    architecture: Architecture = .pfeiffer, reductionFactor: Int = 16, activation: BottleneckActivation = .relu,
    seed: UInt64 = 0
  ) {
    self.architecture = architecture
    self.reductionFactor = reductionFactor
    self.activation = activation
    self.seed = seed
  }

  /// The bottleneck size r = hidden / reduction factor, which must divide evenly (AdapterHub's rule).
  public func size(hidden: Int) throws(TrainingError) -> Int {
    guard reductionFactor >= 1, hidden % reductionFactor == 0 else {
      throw .invalidOption(
        name: "reductionFactor",
        reason: "\(reductionFactor) does not divide the hidden size \(hidden); choose a divisor such as "
          + [2, 4, 8, 16, 32, 64].filter { hidden % $0 == 0 }.map(String.init).joined(separator: ", "))
    }
    return hidden / reductionFactor
  }
}

/// Bottleneck adapter layers (Houlsby et al. 2019; Pfeiffer et al. 2020): on a sublayer's output y, before the
/// residual add, y ← y + act(y W_downᵀ + b_down) W_upᵀ + b_up, in every layer at the configured placements.
///
/// W_down (r, d) starts as torch.nn.Linear's default weight (U(±1/√d)), the biases and W_up at zero, so the adapted
/// model starts equal to the base (AdapterHub's "mam_adapter" initialization, the up-projection zeroed as in LoRA).
/// Tensor names follow AdapterHub's (`model.layers.{i}.output_adapter.adapter_down.weight`, …, with
/// `attention_adapter` for the one after attention); `save` writes them with a config that records placement,
/// reduction factor and non-linearity.
/// ref: Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP"; Pfeiffer et al. 2020,
/// "AdapterFusion"; AdapterHub adapters/configuration/adapter_config.py (BnConfig).
public final class BottleneckAdapterSet: TrainableMethod, BottleneckProvider {
  public let config: BottleneckConfig
  public let model: ModelConfig
  public let size: Int
  public let parameters: ParameterStore
  /// Tensor index of W_down for (layer, placement); b_down, W_up, b_up follow.
  private let firstIndex: [Int]

  public convenience init(config: BottleneckConfig, model: ModelConfig, ledger: MemoryLedger) throws {
    try self.init(config: config, model: model, ledger: ledger, initialize: true)
  }

  init(config: BottleneckConfig, model: ModelConfig, ledger: MemoryLedger, initialize: Bool) throws {
    self.config = config
    self.model = model
    self.size = try config.size(hidden: model.hiddenSize)
    let shapes = Self.tensorShapes(config: config, model: model, size: size)
    self.parameters = try ParameterStore(shapes, label: "adapter", ledger: ledger)
    var first = [Int](repeating: -1, count: model.layerCount * 2)
    var index = 0
    for layer in 0..<model.layerCount {
      for placement in config.architecture.placements {
        first[layer * 2 + placement.rawValue] = index
        index += 4
      }
    }
    self.firstIndex = first
    if initialize { initializeWeights() }
  }

  /// Every tensor (name, shape) in storage order.
  static func tensorShapes(config: BottleneckConfig, model: ModelConfig, size r: Int) -> [(name: String, shape: [Int])]
  {
    let d = model.hiddenSize
    var shapes: [(name: String, shape: [Int])] = []
    for layer in 0..<model.layerCount {
      for placement in config.architecture.placements {
        let prefix = "model.layers.\(layer).\(placement.name)"
        shapes += [
          (prefix + ".adapter_down.weight", [r, d]), (prefix + ".adapter_down.bias", [r]),
          (prefix + ".adapter_up.weight", [d, r]), (prefix + ".adapter_up.bias", [d]),
        ]
      }
    }
    return shapes
  }

  /// The planned tensors without building the set (for plans), or the reduction factor's error.
  public static func plannedShapes(config: BottleneckConfig, model: ModelConfig) throws -> [(
    name: String, shape: [Int]
  )] {
    tensorShapes(config: config, model: model, size: try config.size(hidden: model.hiddenSize))
  }

  private func initializeWeights() {
    var random = SeededGenerator(seed: config.seed)
    let bound = 1 / Double(model.hiddenSize).squareRoot()
    for layer in 0..<model.layerCount {
      for placement in config.architecture.placements {
        let down = parameters.tensors[firstIndex[layer * 2 + placement.rawValue]]
        for i in 0..<down.count {
          let u = Double(random.next() >> 11) * 0x1p-53
          down.value[i] = Float((2 * u - 1) * bound)
        }
      }
    }
  }

  // MARK: BottleneckProvider

  public func bottleneck(layer: Int, placement: AdapterPlacement) -> BottleneckView? {
    guard layer >= 0, layer < model.layerCount else { return nil }
    let first = firstIndex[layer * 2 + placement.rawValue]
    guard first >= 0 else { return nil }
    let t = parameters.tensors
    return BottleneckView(
      down: t[first].value.baseAddress!, downBias: t[first + 1].value.baseAddress!, up: t[first + 2].value.baseAddress!,
      upBias: t[first + 3].value.baseAddress!, downGradient: t[first].gradient.baseAddress!,
      downBiasGradient: t[first + 1].gradient.baseAddress!, upGradient: t[first + 2].gradient.baseAddress!,
      upBiasGradient: t[first + 3].gradient.baseAddress!, size: size, activation: config.activation)
  }

  public var maximumBottleneck: Int { size }

  // MARK: TrainableMethod

  public var methodName: String { "adapter" }
  public var lora: (any LoRAProvider)? { nil }
  public var virtualTokens: (any VirtualTokenGradients)? { nil }
  public var bottlenecks: (any BottleneckProvider)? { self }
  public var seed: UInt64 { config.seed }

  public func restoreValues(from directory: String, ledger: MemoryLedger) throws {
    let saved = try BottleneckAdapterSet.load(from: directory, model: model, ledger: ledger)
    guard saved.config.architecture == config.architecture, saved.size == size else {
      throw TrainingError.checkpoint(
        path: directory, reason: "the checkpoint's adapter placement or size differs from this run's")
    }
    parameters.allValues.baseAddress!.update(from: saved.parameters.allValues.baseAddress!, count: parameters.count)
  }
}
