import Formats

/// A GGUF file's tensors under llama.cpp's names, Q/K rows un-permuted as llama.cpp's converter permuted them
/// (`LlamaCppNames`).
struct GGUFWeightSource: WeightSource {
  let file: GGUFFile
  var path: String { file.path }

  func has(_ hfName: String) -> Bool { file.info(LlamaCppNames.tensorName(hfName)) != nil }

  func matrix(_ hfName: String, expected: [Int], config: ModelConfig) throws -> any FrozenMatrix {
    let view = try file.tensor(LlamaCppNames.tensorName(hfName))
    let order = LlamaCppNames.rowOrder(hfName, config: config)
    return try checkedMatrix(view, expected: expected, rowOrder: order)
  }

  func vector(_ hfName: String, count: Int) throws -> [Float] {
    try decodeVector(try file.tensor(LlamaCppNames.tensorName(hfName)), count: count)
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
