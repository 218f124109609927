public import Memory
public import Model

/// LoRA's trainable parameters for a model: for every layer i and targeted projection t, A (rank, in) and
/// B (out, rank), named by the keys PEFT writes in adapter_model.safetensors
/// (`base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`, …`.lora_B.weight`: the adapter name is
/// removed by PEFT's get_peft_model_state_dict, so there is no ".default").
///
/// Initialized as PEFT does (init_lora_weights=True): A by kaiming_uniform_(a=sqrt(5)), i.e. U(−1/sqrt(in),
/// 1/sqrt(in)) (gain sqrt(2/(1+a²)) = sqrt(1/3), bound gain·sqrt(3/fan_in) = 1/sqrt(fan_in)), drawn from a seeded
/// xoshiro256** in tensor order and row-major; B zero, so the adapted model starts equal to the base model.
/// Values and gradients live in one `ParameterStore` (label "lora") that an optimizer steps directly.
/// ref: PEFT src/peft/tuners/lora/layer.py `reset_lora_parameters`; torch.nn.init.kaiming_uniform_.
public final class LoRAAdapterSet: LoRAProvider {
  public let config: LoRAConfig
  public let model: ModelConfig
  public let parameters: ParameterStore
  /// Modules trained fully beside LoRA (a reward model's score head), stored after LoRA's tensors.
  public let heads: LoRAHeads
  /// Our own `edgetune.*` entries of adapter_model.safetensors' metadata (a reward model's tokenizer fingerprint):
  /// written by `save`, read back by `load`.
  public var metadata: [String: String] = [:]
  /// base_model_name_or_path of the adapter it was read from (a hub id or a path), kept when it is written again.
  public var baseModelName: String?
  /// Tensor index of A for (layer, target position in config.targets); B follows at +1, DoRA's magnitude at +2.
  private let firstIndex: [ProjectionTarget: Int]
  /// Tensors per targeted projection: A and B, and DoRA's magnitude.
  var tensorsPerTarget: Int { config.useDoRA ? 3 : 2 }
  /// DoRA: ‖W_j‖² of every targeted frozen weight's rows, per (layer, target) in tensor order; set by `attach`.
  var baseRowNorms: BaseRowNorms?

  /// A fresh adapter set: A random (seeded by `config.seed`), B zero.
  /// `heads` start at zero (a reward model's score head is then initialized by its owner).
  public convenience init(config: LoRAConfig, model: ModelConfig, heads: LoRAHeads = .none, ledger: MemoryLedger)
    throws
  {
    try self.init(config: config, model: model, heads: heads, ledger: ledger, initialize: true)
  }

  init(config: LoRAConfig, model: ModelConfig, heads: LoRAHeads = .none, ledger: MemoryLedger, initialize: Bool)
    throws
  {
    try config.validate()
    self.config = config
    self.model = model
    self.heads = heads
    self.parameters = try ParameterStore(
      Self.tensorShapes(rank: config.rank, targets: config.targets, useDoRA: config.useDoRA, model: model)
        + heads.tensors.map { ($0.name, $0.shape) }, label: heads.taskType == "SEQ_CLS" ? "reward-model" : "lora",
      ledger: ledger)
    var firstIndex: [ProjectionTarget: Int] = [:]
    for (i, target) in config.targets.enumerated() { firstIndex[target] = (config.useDoRA ? 3 : 2) * i }
    self.firstIndex = firstIndex
    if initialize { initializeAsPEFT() }
  }

  /// Every A (rank, in) and B (out, rank) of LoRA on `targets` at `rank`, and with DoRA each magnitude (out), with
  /// its PEFT key, in storage order.
  static func tensorShapes(rank: Int, targets: [ProjectionTarget], useDoRA: Bool = false, model: ModelConfig)
    -> [(name: String, shape: [Int])]
  {
    var shapes: [(name: String, shape: [Int])] = []
    for layer in 0..<model.layerCount {
      for target in targets {
        let (out, inFeatures) = target.shape(model)
        shapes.append((key(layer: layer, target: target, matrix: "A"), [rank, inFeatures]))
        shapes.append((key(layer: layer, target: target, matrix: "B"), [out, rank]))
        if useDoRA { shapes.append((magnitudeKey(layer: layer, target: target), [out])) }
      }
    }
    return shapes
  }

  /// The PEFT state-dict key of A or B ("A" / "B") of a projection in a layer.
  public static func key(layer: Int, target: ProjectionTarget, matrix: String) -> String {
    "base_model.model.model.layers.\(layer).\(target.modulePath).lora_\(matrix).weight"
  }

  /// A (rank, in) of a targeted projection, nil when the projection has no adapter.
  public func a(layer: Int, target: ProjectionTarget) -> ParameterTensor? {
    index(layer: layer, target: target).map { parameters.tensors[$0] }
  }

  /// B (out, rank) of a targeted projection, nil when the projection has no adapter.
  public func b(layer: Int, target: ProjectionTarget) -> ParameterTensor? {
    index(layer: layer, target: target).map { parameters.tensors[$0 + 1] }
  }

  /// `config.scale` in fp32, as the kernels take it.
  public var scale: Float { Float(config.scale) }

  // MARK: LoRAProvider

  public func lora(layer: Int, target: ProjectionTarget) -> LoRAView? {
    guard let a = a(layer: layer, target: target), let b = b(layer: layer, target: target) else { return nil }
    return LoRAView(
      a: a.value.baseAddress!, b: b.value.baseAddress!, gradA: a.gradient.baseAddress!,
      gradB: b.gradient.baseAddress!, rank: config.rank, scale: scale, dora: dora(layer: layer, target: target))
  }

  public var maximumRank: Int { config.rank }
  public var hasDoRA: Bool { config.useDoRA }

  // MARK: initialization

  func index(layer: Int, target: ProjectionTarget) -> Int? {
    guard layer >= 0, layer < model.layerCount, let first = firstIndex[target] else { return nil }
    return layer * tensorsPerTarget * config.targets.count + first
  }

  /// A ~ U(−1/sqrt(in), 1/sqrt(in)) in tensor order, B = 0.
  private func initializeAsPEFT() {
    var random = SeededGenerator(seed: config.seed)
    for layer in 0..<model.layerCount {
      for target in config.targets {
        let a = self.a(layer: layer, target: target)!
        let bound = 1 / Double(a.shape[1]).squareRoot()
        for i in 0..<a.count {
          // 53 random bits → u in [0, 1) → [−bound, bound)
          let u = Double(random.next() >> 11) * 0x1p-53
          a.value[i] = Float((2 * u - 1) * bound)
        }
        b(layer: layer, target: target)!.value.update(repeating: 0)
      }
    }
  }
}
