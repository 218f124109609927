import Formats

/// GGUF tensor names for Hugging Face names, and the Q/K un-permutation llama.cpp's converter applied.
struct GGUFWeightSource: WeightSource {
  let file: GGUFFile
  var path: String { file.path }

  static func ggufName(_ hfName: String) -> String { LlamaCppNames.tensorName(hfName) }

  func has(_ hfName: String) -> Bool { file.info(Self.ggufName(hfName)) != nil }

  func matrix(_ hfName: String, expected: [Int], config: ModelConfig) throws -> any FrozenMatrix {
    let view = try file.tensor(Self.ggufName(hfName))
    let order = Self.rowOrder(hfName, config: config)
    return try checkedMatrix(view, expected: expected, rowOrder: order)
  }

  func vector(_ hfName: String, count: Int) throws -> [Float] {
    try decodeVector(try file.tensor(Self.ggufName(hfName)), count: count)
  }

  static func rowOrder(_ hfName: String, config: ModelConfig) -> [Int32]? {
    LlamaCppNames.rowOrder(hfName, config: config)
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
