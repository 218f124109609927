/// How llama.cpp's GGUF files name and lay out a Hugging Face model's tensors: the base model's files and the LoRA
/// adapters that go on them share these names, and adapters' B matrices share the Q/K row order.
/// ref: llama.cpp gguf-py/gguf/tensor_mapping.py; convert_hf_to_gguf.py (LlamaModel.permute).
public enum LlamaCppNames {
  /// The GGUF name of a Hugging Face tensor ("model.layers.3.self_attn.q_proj.weight" → "blk.3.attn_q.weight");
  /// names it does not know are returned unchanged.
  public static func tensorName(_ hfName: String) -> String {
    switch hfName {
    case "model.embed_tokens.weight": return "token_embd.weight"
    case "model.norm.weight": return "output_norm.weight"
    case "lm_head.weight": return "output.weight"
    default: break
    }
    let parts = hfName.split(separator: ".")
    guard parts.count >= 5, parts[0] == "model", parts[1] == "layers" else { return hfName }
    let suffix = parts[3...].joined(separator: ".")
    return layerSuffixes[suffix].map { "blk.\(parts[2]).\($0)" } ?? hfName
  }

  /// The GGUF name of a projection's weight in a layer ("blk.3.attn_q.weight").
  public static func tensorName(layer: Int, target: ProjectionTarget) -> String {
    tensorName("model.layers.\(layer).\(target.modulePath).weight")
  }

  /// The projection a GGUF layer-tensor suffix names ("attn_q.weight" → .q), nil for others.
  public static func target(ofSuffix suffix: String) -> ProjectionTarget? {
    ProjectionTarget.allCases.first { layerSuffixes[$0.modulePath + ".weight"] == suffix }
  }

  /// Where llama.cpp stores each Hugging Face row of `hfName` (nil: in place). Only llama-arch Q/K are permuted:
  /// llama.cpp runs qwen2 with NEOX rotary, which is Hugging Face's layout already.
  public static func rowOrder(_ hfName: String, config: ModelConfig) -> [Int32]? {
    guard config.architecture == .llama else { return nil }
    if hfName.hasSuffix("self_attn.q_proj.weight") {
      return llamaCppRowOrder(heads: config.headCount, headDim: config.headDim)
    }
    if hfName.hasSuffix("self_attn.k_proj.weight") {
      return llamaCppRowOrder(heads: config.kvHeadCount, headDim: config.headDim)
    }
    return nil
  }

  /// `rowOrder` of a projection's weight.
  public static func rowOrder(target: ProjectionTarget, config: ModelConfig) -> [Int32]? {
    rowOrder("model.layers.0.\(target.modulePath).weight", config: config)
  }

  private static let layerSuffixes: [String: String] = [
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
  ]
}
