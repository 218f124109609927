internal import Model

/// Fully trained modules kept beside LoRA's matrices (PEFT's `modules_to_save`) and the task they serve: nothing for
/// a causal LM; the `score` head (hidden → 1, no bias) for a reward model, which PEFT (task_type SEQ_CLS) saves as
/// `base_model.model.score.weight`, the name Hugging Face's `LlamaForSequenceClassification` gives it.
/// ref: PEFT src/peft/utils/other.py (ModulesToSaveWrapper.adapter_state_dict_load_map); transformers
/// LlamaForSequenceClassification (`score`, bias=False, num_labels=1 for a reward).
public struct LoRAHeads: Sendable, Equatable {
  /// PEFT's task_type.
  public var taskType: String
  /// PEFT's modules_to_save.
  public var modules: [String]
  /// Their tensors, in storage order after LoRA's: state-dict key and shape.
  public var tensors: [TensorSpec]
  /// Whether they go into adapter_model.safetensors (a reward model's score, which PEFT loads) or are kept by their
  /// owner in a file of its own (PPO's value head, which a generation adapter must not carry).
  public var inAdapterFile = true

  public struct TensorSpec: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
  }

  public static let none = LoRAHeads(taskType: "CAUSAL_LM", modules: [], tensors: [])

  /// The reward model's scalar head on a model of hidden size `hidden`.
  public static func score(hidden: Int) -> LoRAHeads {
    LoRAHeads(
      taskType: "SEQ_CLS", modules: ["score"], tensors: [TensorSpec(name: scoreKey, shape: [1, hidden])])
  }

  public static let scoreKey = "base_model.model.score.weight"

  /// PPO's value head on a model of hidden size `hidden` (TRL's `v_head.summary`, a Linear(hidden, 1) with bias),
  /// kept outside the adapter file so the policy stays a plain PEFT LoRA adapter.
  public static func value(hidden: Int) -> LoRAHeads {
    LoRAHeads(
      taskType: "CAUSAL_LM", modules: [],
      tensors: [TensorSpec(name: valueWeightKey, shape: [1, hidden]), TensorSpec(name: valueBiasKey, shape: [1])],
      inAdapterFile: false)
  }

  public static let valueWeightKey = "v_head.summary.weight"
  public static let valueBiasKey = "v_head.summary.bias"

  /// The heads an adapter_config.json declares, or nil when it declares something this program cannot load.
  static func declared(taskType: String?, modules: [String], hidden: Int) -> LoRAHeads? {
    if modules.isEmpty && taskType != "SEQ_CLS" { return LoRAHeads.none }
    if taskType == "SEQ_CLS" && (modules.isEmpty || modules == ["score"]) { return LoRAHeads.score(hidden: hidden) }
    return nil
  }
}
