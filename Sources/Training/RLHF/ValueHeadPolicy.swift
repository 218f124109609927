import Formats
import Foundation
public import Memory
public import Model

/// PPO's policy and value model on the shared frozen base: LoRA (the policy; the reference is the base with it off)
/// and a value head on the policy's final hidden states (TRL's AutoModelForCausalLMWithValueHead: a Linear(hidden, 1)
/// with bias, sharing the trunk, so the value loss also shapes LoRA). The LoRA part is saved as a plain PEFT adapter
/// (usable by `generate --adapter` and PEFT); the value head goes beside it in value_head.safetensors.
public final class ValueHeadPolicy: TrainableMethod {
  public let adapters: LoRAAdapterSet

  /// A fresh policy: LoRA as PEFT initializes it (B = 0: the policy starts as the base), the value head at zero.
  public init(config: LoRAConfig, model: ModelConfig, ledger: MemoryLedger) throws {
    adapters = try LoRAAdapterSet(config: config, model: model, heads: .value(hidden: model.hiddenSize), ledger: ledger)
  }

  public var valueHead: ScalarHeadView {
    ScalarHeadView(weight: parameters[LoRAHeads.valueWeightKey]!, bias: parameters[LoRAHeads.valueBiasKey]!)
  }

  /// The LoRA tensors (without the value head), in storage order.
  var loraTensors: ArraySlice<ParameterTensor> { parameters.tensors.dropLast(adapters.heads.tensors.count) }

  /// Copies a saved LoRA adapter of the same rank and targets into the policy (a supervised warm start: PPO after
  /// SFT, as InstructGPT runs it). The value head is left as it is.
  public func startFrom(adapter directory: String, ledger: MemoryLedger) throws {
    let saved = try LoRAAdapterSet.load(from: directory, model: adapters.model, ledger: ledger)
    guard saved.config.rank == adapters.config.rank, saved.config.targets == adapters.config.targets else {
      throw TrainingError.checkpoint(
        path: directory,
        reason: "LoRA r=\(saved.config.rank) on \(saved.config.targets.map(\.moduleName)); this run has r="
          + "\(adapters.config.rank) on \(adapters.config.targets.map(\.moduleName)): give the same --rank and --targets"
      )
    }
    for (mine, theirs) in zip(loraTensors, saved.parameters.tensors) {
      mine.value.baseAddress!.update(from: theirs.value.baseAddress!, count: mine.count)
    }
  }

  // MARK: TrainableMethod

  public var methodName: String { "ppo" }
  public var parameters: ParameterStore { adapters.parameters }
  public var lora: (any LoRAProvider)? { adapters }
  public var virtualTokens: (any VirtualTokenGradients)? { nil }
  public var seed: UInt64 { adapters.config.seed }
  public var loraDropout: Float { Float(adapters.config.dropout) }

  public func save(to directory: String, baseModel: String?, overwrite: Bool) throws {
    let head = adapters.heads.tensors.map { parameters[$0.name]! }
    try adapters.save(to: directory, baseModel: baseModel, overwrite: overwrite) { temporary in
      let writer = try SafetensorsWriter(
        path: temporary + "/" + AdapterDirectory.valueHeadFileName,
        plans: head.map {
          SafetensorsWriter.Plan(name: $0.name, dtype: "F32", shape: $0.shape, byteCount: $0.count * 4)
        },
        metadata: [("format", "pt")])
      for tensor in head { try writer.write(UnsafeRawBufferPointer(tensor.value)) }
      try writer.finish()
    }
  }

  public func restoreValues(from directory: String, ledger: MemoryLedger) throws {
    try startFrom(adapter: directory, ledger: ledger)
    let path = (directory as NSString).appendingPathComponent(AdapterDirectory.valueHeadFileName)
    let file = try SafetensorsFile(path: path)
    for spec in adapters.heads.tensors {
      let tensor = parameters[spec.name]!
      guard let entry = file.entry(spec.name), entry.shape == spec.shape, entry.dtype == "F32" else {
        throw TrainingError.checkpoint(path: path, reason: "needs \(spec.name) as F32 of shape \(spec.shape)")
      }
      let view = try file.tensor(spec.name)
      UnsafeMutableRawPointer(tensor.value.baseAddress!).copyMemory(from: view.data, byteCount: tensor.count * 4)
    }
  }
}
