import Formats
import Foundation
public import Memory
public import Model

/// (IA)³: one learned vector per layer on the keys, the values and the MLP's down_proj input, starting at ones (the
/// base model); the smallest adapter there is (2·kv + f numbers per layer). Stored as PEFT does: keys
/// `base_model.model.model.layers.{i}.self_attn.k_proj.ia3_l` (kv, 1), `…v_proj.ia3_l` (kv, 1) and
/// `…mlp.down_proj.ia3_l` (1, f), with `peft_type: IA3` and down_proj in `feedforward_modules` (scaled on its input).
/// ref: Liu et al. 2022, "(IA)³"; PEFT src/peft/tuners/ia3/{config,layer}.py.
public final class IA3Set: TrainableMethod, ScalingVectorProvider {
  public static let targets: [ProjectionTarget] = [.k, .v, .down]
  public let model: ModelConfig
  public let parameters: ParameterStore
  public let seed: UInt64

  public init(model: ModelConfig, seed: UInt64 = 0, ledger: MemoryLedger) throws {
    self.model = model
    self.seed = seed
    self.parameters = try ParameterStore(Self.tensorShapes(model: model), label: "ia3", ledger: ledger)
    parameters.allValues.update(repeating: 1)
  }

  static func tensorShapes(model c: ModelConfig) -> [(name: String, shape: [Int])] {
    (0..<c.layerCount).flatMap { layer in
      targets.map { target in
        (key(layer: layer, target: target), target == .down ? [1, c.intermediateSize] : [c.kvDim, 1])
      }
    }
  }

  public static func key(layer: Int, target: ProjectionTarget) -> String {
    "base_model.model.model.layers.\(layer).\(target.modulePath).ia3_l"
  }

  public func scaling(layer: Int, target: ProjectionTarget) -> (
    values: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>
  )? {
    guard layer >= 0, layer < model.layerCount, let t = Self.targets.firstIndex(of: target) else { return nil }
    let tensor = parameters.tensors[layer * Self.targets.count + t]
    return (tensor.value.baseAddress!, tensor.gradient.baseAddress!)
  }

  // MARK: TrainableMethod

  public var methodName: String { "ia3" }
  public var lora: (any LoRAProvider)? { nil }
  public var virtualTokens: (any VirtualTokenGradients)? { nil }
  public var scalings: (any ScalingVectorProvider)? { self }

  public func save(to directory: String, baseModel: String? = nil, overwrite: Bool = false) throws {
    try AdapterDirectory.save(to: directory, overwrite: overwrite) { temporary in
      try AdapterDirectory.writeFiles(
        in: temporary, config: IA3AdapterConfig(baseModel: baseModel), parameters: parameters)
    }
  }

  /// Reads an IA3 adapter written by PEFT or `save`, for k_proj, v_proj and down_proj (down_proj feed-forward),
  /// refusing other targets and misshapen or missing tensors by name.
  public static func load(from directory: String, model: ModelConfig, ledger: MemoryLedger) throws -> IA3Set {
    let (configPath, weightsPath) = try AdapterDirectory.files(in: directory)
    func fail(_ path: String, _ reason: String) -> TrainingError { .checkpoint(path: path, reason: reason) }
    let json = try TrainingJSON.read(IA3AdapterConfig.self, path: configPath)
    guard json.peftType == "IA3" else { throw fail(configPath, "peft_type is not IA3") }
    let names = json.targetModules?.moduleNames ?? []
    guard Set(names) == Set(targets.map(\.moduleName)) else {
      throw fail(configPath, "target_modules \(names): only k_proj, v_proj and down_proj are supported")
    }
    let feedforward = json.feedforwardModules?.moduleNames ?? []
    guard feedforward == ["down_proj"] else {
      throw fail(configPath, "feedforward_modules \(feedforward): expected [\"down_proj\"]")
    }
    let set = try IA3Set(model: model, ledger: ledger)
    // PEFT's files hold only the ia3_l vectors, but other tensors are tolerated as before.
    try AdapterDirectory.readTensors(
      into: set.parameters, from: try SafetensorsFile(path: weightsPath), allowingOthers: true)
    return set
  }

  public func restoreValues(from directory: String, ledger: MemoryLedger) throws {
    let saved = try IA3Set.load(from: directory, model: model, ledger: ledger)
    parameters.allValues.baseAddress!.update(from: saved.parameters.allValues.baseAddress!, count: parameters.count)
  }
}
