import Formats
import Foundation
import Memory
import Model
import Training

/// Model shapes and scratch directories for the optimizer and adapter tests.
enum AdapterTestSupport {
  /// SmolLM2-135M's shape: 30 layers, hidden 576, 9 heads of 64 with 3 kv heads, MLP 1536.
  static func smolLM2Config() throws -> ModelConfig {
    try config(layers: 30, hidden: 576, intermediate: 1536, heads: 9, kvHeads: 3)
  }

  /// A two-layer model for fast round trips.
  static func tinyConfig(layers: Int = 2, hidden: Int = 64) throws -> ModelConfig {
    try config(layers: layers, hidden: hidden, intermediate: 96, heads: 4, kvHeads: 2)
  }

  static func config(layers: Int, hidden: Int, intermediate: Int, heads: Int, kvHeads: Int) throws -> ModelConfig {
    let text = """
      {"model_type": "llama", "hidden_size": \(hidden), "intermediate_size": \(intermediate),
       "num_hidden_layers": \(layers), "num_attention_heads": \(heads), "num_key_value_heads": \(kvHeads),
       "vocab_size": 256, "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 100000,
       "tie_word_embeddings": true}
      """
    return try ModelConfig(huggingFace: JSONObject(text: text, path: "test-config.json"), hasSeparateHead: false)
  }

  /// A fresh empty directory under the system's temporary directory.
  static func scratchDirectory(_ name: String) throws -> String {
    let path = NSTemporaryDirectory() + "edgetune-\(name)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// Flips one byte of a file at `offset` from the end (damaging tensor data, not the header).
  static func flipByte(_ path: String, fromEnd offset: Int) throws {
    var data = try Data(contentsOf: URL(fileURLWithPath: path))
    data[data.count - offset] ^= 0xFF
    try data.write(to: URL(fileURLWithPath: path))
  }

  static func set(_ buffer: UnsafeMutableBufferPointer<Float>, _ values: [Float]) {
    precondition(values.count == buffer.count)
    for (i, x) in values.enumerated() { buffer[i] = x }
  }

  /// Deterministic pseudo-random values in [-1, 1).
  static func fill(_ buffer: UnsafeMutableBufferPointer<Float>, seed: UInt64) {
    var random = SeededGenerator(seed: seed)
    for i in buffer.indices { buffer[i] = Float(Double(random.next() >> 11) * 0x1p-53 * 2 - 1) }
  }
}
