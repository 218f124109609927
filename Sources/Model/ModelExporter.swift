internal import Formats
import Foundation
public import Memory
import Quantization

/// Writes a loaded model back out dequantized: a Hugging Face safetensors file (with config.json, tokenizer.json
/// and tokenizer_config.json beside it) or a llama.cpp GGUF file. Matrices in fp32 or fp16, norms and biases in
/// fp32, one tensor at a time. This is the way back from NF4 (and the merge path of later work).
public struct ModelExporter {
  public let model: LanguageModel
  public let halfPrecision: Bool

  public init(model: LanguageModel, halfPrecision: Bool) {
    self.model = model
    self.halfPrecision = halfPrecision
  }

  /// One output tensor: Hugging Face name, GGUF name, shape, whether it is a matrix (fp16-able), its source, and for
  /// llama-arch Q/K the llama.cpp row order to write in GGUF.
  struct Item {
    var hfName: String
    var ggufName: String
    var shape: [Int]
    var isMatrix: Bool
    var fill: (UnsafeMutablePointer<Float>) -> Void
    var ggufRowOrder: [Int32]?
    var count: Int { shape.reduce(1, *) }
  }

  func items() -> [Item] {
    let c = model.config
    return model.weights.named(config: c).map { weight in
      let gguf = GGUFWeightSource.ggufName(weight.name)
      switch weight.kind {
      case .matrix(let m, _):
        return Item(
          hfName: weight.name, ggufName: gguf, shape: weight.shape, isMatrix: true,
          fill: { destination in
            NF4Converter.decodeAll(m, into: destination)
            model.dropPages(of: m)
          }, ggufRowOrder: GGUFWeightSource.rowOrder(weight.name, config: c))
      case .vector(let v):
        return Item(
          hfName: weight.name, ggufName: gguf, shape: weight.shape, isMatrix: false,
          fill: { destination in v.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: v.count) }
          },
          ggufRowOrder: nil)
      }
    }
  }

  /// Writes `path` (.safetensors) and the JSON files a Hugging Face loader needs beside it; returns the file size.
  @discardableResult
  public func writeSafetensors(to path: String, ledger: MemoryLedger, progress: (Int, Int) -> Void = { _, _ in }) throws
    -> Int
  {
    let items = items()
    let plans = items.map { item in
      let half = halfPrecision && item.isMatrix
      return SafetensorsWriter.Plan(
        name: item.hfName, dtype: half ? "F16" : "F32", shape: item.shape, byteCount: item.count * (half ? 2 : 4))
    }
    let writer = try SafetensorsWriter(path: path, plans: plans, metadata: [("format", "pt")])
    try stream(items, ledger: ledger, progress: progress) { item, values in
      try write(values, count: item.count, half: halfPrecision && item.isMatrix, ledger: ledger) {
        try writer.write($0)
      }
    }
    try writer.finish()
    let directory = (path as NSString).deletingLastPathComponent
    func beside(_ name: String) -> String {
      ((directory.isEmpty ? "." : directory) as NSString).appendingPathComponent(name)
    }
    var config = HuggingFaceConfig(model.config)
    config.torchDtype = halfPrecision ? "float16" : "float32"
    config.bosTokenID = model.tokenizer.bosID.map(Int.init)
    config.eosTokenID = model.eosID.map(Int.init)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeBytes(Array(try encoder.encode(config)), to: beside("config.json"))
    try writeBytes(try model.tokenizer.tokenizerJSON(), to: beside("tokenizer.json"))
    var tokenizerConfig: [String: Any] = ["add_bos_token": model.tokenizer.addBOS]
    if let template = model.chatTemplate.source { tokenizerConfig["chat_template"] = template }
    if let eos = model.eosID, let text = model.tokenizer.token(of: eos) { tokenizerConfig["eos_token"] = text }
    if let bos = model.tokenizer.bosID, let text = model.tokenizer.token(of: bos) {
      tokenizerConfig["bos_token"] = text
    }
    try writeJSON(tokenizerConfig, to: beside("tokenizer_config.json"))
    return fileSize(atPath: path)
  }

  /// Writes a GGUF v3 file llama.cpp and the `gguf` Python package read; returns the file size.
  @discardableResult
  public func writeGGUF(to path: String, ledger: MemoryLedger, progress: (Int, Int) -> Void = { _, _ in }) throws -> Int
  {
    let items = items()
    let plans = items.map { item in
      GGUFTensorPlan(name: item.ggufName, shape: item.shape, type: halfPrecision && item.isMatrix ? .f16 : .f32)
    }
    let writer = try GGUFWriter(path: path, metadata: ggufMetadata(), tensors: plans)
    try stream(items, ledger: ledger, progress: progress) { item, values in
      if let order = item.ggufRowOrder {
        // llama.cpp's layout: canonical row r is stored at row order[r].
        let cols = item.shape[1]
        let permuted = try AnonymousBuffer<Float>(count: item.count, label: "convert-output", ledger: ledger)
        for (r, stored) in order.enumerated() {
          (permuted.pointer + Int(stored) * cols).update(from: values + r * cols, count: cols)
        }
        try write(permuted.pointer, count: item.count, half: halfPrecision, ledger: ledger) {
          try writer.writeTensor($0)
        }
      } else {
        try write(values, count: item.count, half: halfPrecision && item.isMatrix, ledger: ledger) {
          try writer.writeTensor($0)
        }
      }
    }
    try writer.finish()
    return writer.fileSize
  }

  func ggufMetadata() -> [(String, GGUFValue)] {
    let c = model.config
    let a = c.architecture.rawValue
    var metadata: [(String, GGUFValue)] = [
      ("general.architecture", .string(a)),
      ("general.name", .string(((model.path as NSString).lastPathComponent as NSString).deletingPathExtension)),
      ("general.file_type", .uint32(halfPrecision ? 1 : 0)),
      ("\(a).context_length", .uint32(UInt32(c.contextLength))),
      ("\(a).embedding_length", .uint32(UInt32(c.hiddenSize))),
      ("\(a).feed_forward_length", .uint32(UInt32(c.intermediateSize))),
      ("\(a).block_count", .uint32(UInt32(c.layerCount))),
      ("\(a).attention.head_count", .uint32(UInt32(c.headCount))),
      ("\(a).attention.head_count_kv", .uint32(UInt32(c.kvHeadCount))),
      ("\(a).attention.key_length", .uint32(UInt32(c.headDim))),
      ("\(a).attention.value_length", .uint32(UInt32(c.headDim))),
      ("\(a).attention.layer_norm_rms_epsilon", .float32(c.rmsNormEpsilon)),
      ("\(a).rope.freq_base", .float32(Float(c.ropeTheta))),
      ("\(a).rope.dimension_count", .uint32(UInt32(c.rotaryDim))),
      ("\(a).vocab_size", .uint32(UInt32(c.vocabularySize))),
    ]
    metadata += model.tokenizer.ggufMetadata().filter { $0.0 != "tokenizer.ggml.eos_token_id" }
    if let eos = model.eosID { metadata.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos)))) }
    if let template = model.chatTemplate.source { metadata.append(("tokenizer.chat_template", .string(template))) }
    return metadata
  }

  /// Decodes each item into a fresh fp32 buffer (reserved in the ledger) and hands it to `body`.
  private func stream(
    _ items: [Item], ledger: MemoryLedger, progress: (Int, Int) -> Void,
    _ body: (Item, UnsafeMutablePointer<Float>) throws -> Void
  ) throws {
    let total = items.reduce(0) { $0 + $1.count }
    var done = 0
    for item in items {
      let values = try AnonymousBuffer<Float>(count: item.count, label: "convert-source", ledger: ledger)
      item.fill(values.pointer)
      try body(item, values.pointer)
      done += item.count
      progress(done, total)
    }
  }

  /// Passes the values as raw fp32 bytes, or converted to fp16.
  private func write(
    _ values: UnsafeMutablePointer<Float>, count: Int, half: Bool, ledger: MemoryLedger,
    _ sink: (UnsafeRawBufferPointer) throws -> Void
  ) throws {
    guard half else { return try sink(UnsafeRawBufferPointer(start: values, count: count * 4)) }
    let halves = try AnonymousBuffer<UInt16>(count: count, label: "convert-output", ledger: ledger)
    for i in 0..<count { halves.pointer[i] = halfBitsFromFloat(values[i]) }
    try sink(UnsafeRawBufferPointer(start: halves.pointer, count: count * 2))
  }

  private func writeJSON(_ object: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    try writeBytes(Array(data), to: path)
  }

  private func writeBytes(_ bytes: [UInt8], to path: String) throws {
    let writer = try AtomicFileWriter(path: path)
    try writer.write(bytes)
    try writer.finish()
  }
}
