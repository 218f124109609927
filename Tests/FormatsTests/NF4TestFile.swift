import Formats
import Foundation
import Quantization

/// A small EdgeTune NF4 file made by hand (NF4Quantizer + SafetensorsWriter, no model): three quantized weights in the
/// bitsandbytes layout and one plain tensor, with the metadata NF4ModelFile requires. Tests edit the parts, the quant
/// state JSON or the metadata before writing, to make one specific kind of damage.
struct NF4TestFile {
  struct Part {
    var name: String
    var dtype: String
    var shape: [Int]
    var bytes: [UInt8]
  }

  /// Double-quantized, 640 weights: 10 blocks of 64 in one group of 256.
  static let nested = "model.layers.0.mlp.up_proj.weight"
  /// Plain fp32 block scales, 15 weights (an odd count: the last byte holds one weight and a padding nibble).
  static let plain = "model.layers.0.self_attn.q_proj.weight"
  /// Double-quantized with groups of 4 blocks: 8 blocks of 64 in 2 groups.
  static let grouped = "model.layers.0.mlp.down_proj.weight"
  static let vector = "model.norm.weight"
  static let quantizedNames = [nested, plain, grouped]

  var parts: [Part] = []
  var metadata: [(String, String)] = [
    ("format", "pt"), ("edgetune.format", "nf4"), ("edgetune.version", "1"),
    ("edgetune.config", "{\"model_type\":\"llama\",\"hidden_size\":16}"),
    ("edgetune.tokenizer", "{\"model\":{\"type\":\"BPE\"}}"), ("edgetune.special_tokens", "{\"eos\":2}"),
  ]
  /// The source values of each quantized weight, for checking what the file decodes to.
  var values: [String: [Float]] = [:]

  static func sample() -> NF4TestFile {
    var file = NF4TestFile()
    var rng = SplitMix64(seed: 0x4E46_3400)
    file.addQuantized(nested, shape: [16, 40], nestedBlockSize: 256, rng: &rng)
    file.addQuantized(plain, shape: [3, 5], nestedBlockSize: nil, rng: &rng)
    file.addQuantized(grouped, shape: [8, 64], nestedBlockSize: 4, rng: &rng)
    file.parts.append(
      Part(name: vector, dtype: "F32", shape: [16], bytes: f32Bytes((0..<16).map { 1 + Float($0) / 64 })))
    return file
  }

  /// Quantizes seeded random values (roughly normal, std 0.05) and appends the weight's parts in file order:
  /// packed codes, block scales, code table, [group scales, scale code,] quant state JSON.
  mutating func addQuantized(
    _ name: String, shape: [Int], blockSize: Int = 64, nestedBlockSize: Int?, rng: inout SplitMix64
  ) {
    let count = shape.reduce(1, *)
    let x: [Float] = (0..<count).map { _ in
      (0..<4).reduce(Float(0)) { sum, _ in sum + Float.random(in: -0.0866...0.0866, using: &rng) }
    }
    values[name] = x
    let layout = NF4Quantizer.Layout(count: count, blockSize: blockSize, nestedBlockSize: nestedBlockSize ?? 256)
    var packed = [UInt8](repeating: 0, count: layout.packedBytes)
    var absmax = [Float](repeating: 0, count: layout.blocks)
    x.withUnsafeBufferPointer { input in
      let bad = NF4Quantizer.quantize(
        input.baseAddress!, count: count, blockSize: blockSize, blocks: 0..<layout.blocks, packed: &packed,
        absmax: &absmax)
      precondition(bad == nil, "test values are finite")
    }
    parts.append(Part(name: name, dtype: "U8", shape: [layout.packedBytes, 1], bytes: packed))
    var state =
      "{\"quant_type\": \"nf4\", \"blocksize\": \(blockSize), \"dtype\": \"float32\", \"shape\": ["
      + shape.map(String.init).joined(separator: ", ") + "]"
    if let nestedBlockSize {
      var q = [UInt8](repeating: 0, count: layout.blocks)
      var groups = [Float](repeating: 0, count: layout.nestedBlocks)
      let offset = NF4Quantizer.doubleQuantize(
        absmax: absmax, blocks: layout.blocks, nestedBlockSize: nestedBlockSize, q: &q, nestedAbsmax: &groups)
      parts.append(Part(name: name + ".absmax", dtype: "U8", shape: [layout.blocks], bytes: q))
      parts.append(Part(name: name + ".quant_map", dtype: "F32", shape: [16], bytes: f32Bytes(NF4Tables.code)))
      parts.append(Part(name: name + ".nested_absmax", dtype: "F32", shape: [groups.count], bytes: f32Bytes(groups)))
      parts.append(
        Part(name: name + ".nested_quant_map", dtype: "F32", shape: [256], bytes: f32Bytes(NF4Tables.dynamicMapSigned)))
      state +=
        ", \"nested_blocksize\": \(nestedBlockSize), \"nested_dtype\": \"float32\", \"nested_offset\": \(Double(offset))"
    } else {
      parts.append(Part(name: name + ".absmax", dtype: "F32", shape: [layout.blocks], bytes: f32Bytes(absmax)))
      parts.append(Part(name: name + ".quant_map", dtype: "F32", shape: [16], bytes: f32Bytes(NF4Tables.code)))
    }
    state += "}"
    parts.append(
      Part(name: name + NF4ModelFile.quantStateSuffix, dtype: "U8", shape: [state.utf8.count], bytes: Array(state.utf8))
    )
  }

  /// Edits part `name` (which must exist).
  mutating func edit(_ name: String, _ change: (inout Part) -> Void) {
    let i = parts.firstIndex { $0.name == name }!
    change(&parts[i])
  }

  mutating func remove(_ name: String) { parts.removeAll { $0.name == name } }

  /// Replaces the quant state JSON of weight `name`.
  mutating func setQuantState(_ name: String, _ text: String) {
    edit(name + NF4ModelFile.quantStateSuffix) {
      $0.bytes = Array(text.utf8)
      $0.shape = [$0.bytes.count]
    }
  }

  func quantState(_ name: String) -> String {
    String(decoding: parts.first { $0.name == name + NF4ModelFile.quantStateSuffix }!.bytes, as: UTF8.self)
  }

  /// Sets (or with nil removes) a metadata value.
  mutating func setMetadata(_ key: String, _ value: String?) {
    metadata.removeAll { $0.0 == key }
    if let value { metadata.append((key, value)) }
  }

  /// Writes the file with SafetensorsWriter (page-aligned data section, CRC-32 per tensor) into `dir`.
  @discardableResult
  func write(in dir: TemporaryDirectory, name: String = "model.nf4") throws -> String {
    let path = (dir.path as NSString).appendingPathComponent(name)
    let plans = parts.map {
      SafetensorsWriter.Plan(name: $0.name, dtype: $0.dtype, shape: $0.shape, byteCount: $0.bytes.count)
    }
    let writer = try SafetensorsWriter(path: path, plans: plans, metadata: metadata)
    for part in parts { try writer.write(part.bytes) }
    try writer.finish()
    return path
  }
}
