import Formats

/// GGUF tensor names for Hugging Face names, and the Q/K un-permutation llama.cpp's converter applied.
struct GGUFWeightSource: WeightSource {
  let file: GGUFFile
  var path: String { file.path }

  /// Hugging Face name → GGUF name. ref: llama.cpp gguf-py/gguf/tensor_mapping.py.
  static func ggufName(_ hfName: String) -> String {
    switch hfName {
    case "model.embed_tokens.weight": return "token_embd.weight"
    case "model.norm.weight": return "output_norm.weight"
    case "lm_head.weight": return "output.weight"
    default: break
    }
    let parts = hfName.split(separator: ".")
    guard parts.count >= 5, parts[0] == "model", parts[1] == "layers" else { return hfName }
    let suffix = parts[3...].joined(separator: ".")
    let table: [String: String] = [
      "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
      "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
      "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
      "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
      "self_attn.v_proj.bias": "attn_v.bias",
      "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
      "mlp.down_proj.weight": "ffn_down.weight",
    ]
    return table[suffix].map { "blk.\(parts[2]).\($0)" } ?? hfName
  }

  func has(_ hfName: String) -> Bool { file.info(Self.ggufName(hfName)) != nil }

  func matrix(_ hfName: String, expected: [Int], config: ModelConfig) throws -> any FrozenMatrix {
    let view = try file.tensor(Self.ggufName(hfName))
    let order = Self.rowOrder(hfName, config: config)
    return try checkedMatrix(view, expected: expected, rowOrder: order)
  }

  func vector(_ hfName: String, count: Int) throws -> [Float] {
    try decodeVector(try file.tensor(Self.ggufName(hfName)), count: count)
  }

  /// Where llama.cpp stores each Hugging Face row of `hfName` (nil: in place). Only llama-arch Q/K are permuted:
  /// llama.cpp runs qwen2 with NEOX rotary, which is Hugging Face's layout already.
  static func rowOrder(_ hfName: String, config: ModelConfig) -> [Int32]? {
    guard config.architecture == .llama else { return nil }
    if hfName.hasSuffix("self_attn.q_proj.weight") {
      return llamaCppRowOrder(heads: config.headCount, headDim: config.headDim)
    }
    if hfName.hasSuffix("self_attn.k_proj.weight") {
      return llamaCppRowOrder(heads: config.kvHeadCount, headDim: config.headDim)
    }
    return nil
  }
}

/// Hugging Face safetensors: names and layout are canonical already.
struct HFWeightSource: WeightSource {
  let directory: HFModelDirectory
  var path: String { directory.directory }

  func has(_ hfName: String) -> Bool { directory.contains(hfName) }

  func matrix(_ hfName: String, expected: [Int], config: ModelConfig) throws -> any FrozenMatrix {
    try checkedMatrix(try directory.tensor(hfName), expected: expected)
  }

  func vector(_ hfName: String, count: Int) throws -> [Float] {
    try decodeVector(try directory.tensor(hfName), count: count)
  }
}
