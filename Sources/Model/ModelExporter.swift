internal import Formats
import Foundation
public import Memory
public import Quantization

/// Writes a loaded model back out: a Hugging Face safetensors file (with config.json, tokenizer.json and
/// tokenizer_config.json beside it) or a llama.cpp GGUF file. Matrices in fp32 or fp16, or in a GGUF file also one of
/// llama.cpp's quantized types, quantized by ggml's own algorithms as `llama-quantize --pure` does it (every matrix,
/// embeddings included; a type whose block does not divide a row falls back as llama-quantize's does); norms and
/// biases stay fp32. One tensor at a time and each in blocks of rows (`RowBlocks`). This is the way back from NF4,
/// and `merge`'s.
public struct ModelExporter {
  public let model: LanguageModel
  /// The matrices' element type: f32, f16, or (GGUF only) a type `ggmlQuantize` makes.
  public let type: GGMLType

  public init(model: LanguageModel, type: GGMLType) {
    precondition(type == .f32 || type.isQuantizable, "not a type the exporter writes")
    self.model = model
    self.type = type
  }

  /// The type a matrix of `cols` columns is stored in for a requested `type`: llama-quantize's fallback when the
  /// type's block does not divide the row (q4_k → q5_0, q6_k → q8_0, then f16).
  public static func storedType(_ type: GGMLType, cols: Int) -> GGMLType {
    type == .f32 || type == .f16 ? type : quantizationType(for: type, rowLength: cols)
  }

  /// One output tensor: the model's weight (Hugging Face name, shape, values), its GGUF name, and for llama-arch Q/K
  /// the llama.cpp row order to write in GGUF.
  struct Item {
    var weight: NamedWeight
    var ggufName: String
    var ggufRowOrder: [Int32]?
    var hfName: String { weight.name }
    var shape: [Int] { weight.shape }
    /// Matrices are written in the exporter's type; vectors stay fp32.
    var isMatrix: Bool {
      if case .matrix = weight.kind { return true }
      return false
    }
    /// The type this tensor is written in for the exporter's `type`.
    func stored(_ type: GGMLType) -> GGMLType { isMatrix ? ModelExporter.storedType(type, cols: shape[1]) : .f32 }
    var count: Int { shape.reduce(1, *) }
  }

  func items() -> [Item] {
    model.weights.named(config: model.config).map { weight in
      Item(
        weight: weight, ggufName: LlamaCppNames.tensorName(weight.name),
        ggufRowOrder: LlamaCppNames.rowOrder(weight.name, config: model.config))
    }
  }

  /// Writes `path` (.safetensors) and the JSON files a Hugging Face loader needs beside it; returns the file size.
  @discardableResult
  public func writeSafetensors(to path: String, ledger: MemoryLedger, progress: (Int, Int) -> Void = { _, _ in }) throws
    -> Int
  {
    guard type == .f32 || type == .f16 else {
      throw ModelError.invalidConfig(path: path, reason: "safetensors output holds f32 or f16, not \(type.name)")
    }
    let items = items()
    let plans = items.map { item in
      let half = item.stored(type) == .f16
      return SafetensorsWriter.Plan(
        name: item.hfName, dtype: half ? "F16" : "F32", shape: item.shape, byteCount: item.count * (half ? 2 : 4))
    }
    let writer = try SafetensorsWriter(path: path, plans: plans, metadata: [("format", "pt")])
    try stream(items, llamaCppOrder: false, path: path, ledger: ledger, progress: progress) { try writer.writePart($0) }
    try writer.finish()
    let directory = (path as NSString).deletingLastPathComponent
    func beside(_ name: String) -> String {
      ((directory.isEmpty ? "." : directory) as NSString).appendingPathComponent(name)
    }
    var config = HuggingFaceConfig(model.config)
    config.torchDtype = type == .f16 ? "float16" : "float32"
    config.bosTokenID = model.tokenizer.bosID.map(Int.init)
    config.eosTokenID = model.eosID.map(Int.init)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFileWriter.write(Array(try encoder.encode(config)), to: beside("config.json"))
    try AtomicFileWriter.write(try model.tokenizer.tokenizerJSON(), to: beside("tokenizer.json"))
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
    let plans = items.map { item in GGUFTensorPlan(name: item.ggufName, shape: item.shape, type: item.stored(type)) }
    let writer = try GGUFWriter(path: path, metadata: ggufMetadata(), tensors: plans)
    try stream(items, llamaCppOrder: true, path: path, ledger: ledger, progress: progress) {
      try writer.writeTensorPart($0)
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
      ("general.file_type", .uint32(Self.llamaFileType(type))),
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
    // llama.cpp's writer adds this to quantized files (the block layouts' version).
    if type != .f32 && type != .f16 { metadata.append(("general.quantization_version", .uint32(2))) }
    return metadata
  }

  /// llama.cpp's `llama_ftype` of a file whose matrices are mostly `type` (ref: include/llama.h).
  static func llamaFileType(_ type: GGMLType) -> UInt32 {
    switch type {
    case .f16: 1
    case .q4_0: 2
    case .q4_1: 3
    case .q8_0: 7
    case .q5_0: 8
    case .q5_1: 9
    case .q4_K: 14  // LLAMA_FTYPE_MOSTLY_Q4_K_S: every matrix Q4_K
    case .q5_K: 16  // LLAMA_FTYPE_MOSTLY_Q5_K_S
    case .q6_K: 18
    default: 0
    }
  }

  /// Streams each item's values as the output's bytes (matrices in blocks of rows in their stored type; with
  /// `llamaCppOrder`, Q/K rows in llama.cpp's order, blocks of whole heads) to `sink`, in order.
  /// - Throws: `ModelError.invalidConfig` naming `path` and the tensor when a value is NaN or infinite (a damaged
  ///   adapter or source) or beyond fp16's range in f16 output; the writer then leaves nothing at `path`.
  private func stream(
    _ items: [Item], llamaCppOrder: Bool, path: String, ledger: MemoryLedger, progress: (Int, Int) -> Void,
    _ sink: (UnsafeRawBufferPointer) throws -> Void
  ) throws {
    let total = items.reduce(0) { $0 + $1.count }
    var done = 0
    for item in items {
      let order = llamaCppOrder ? item.ggufRowOrder : nil
      let stored = item.stored(type)
      // llama.cpp's order moves rows only within their head.
      let granule = order == nil ? 1 : model.config.headDim
      try RowBlocks.forEach(item.weight, of: model, granule: granule, storedOrder: order, ledger: ledger) {
        values, count in
        if let bad = RowBlocks.firstNonFinite(values, count: count, limit: stored == .f16 ? 65504 : nil) {
          throw ModelError.invalidConfig(
            path: path,
            reason: "tensor '\(item.hfName)' holds \(bad) (NaN or infinity: a damaged adapter or source"
              + (stored == .f16 ? ", or beyond fp16's range ±65504: use --dtype f32" : "") + "); nothing was written")
        }
        switch stored {
        case .f32: try sink(UnsafeRawBufferPointer(start: values, count: count * 4))
        case .f16:
          try RowBlocks.withHalves(of: values, count: count, ledger: ledger) {
            try sink(UnsafeRawBufferPointer(start: $0, count: count * 2))
          }
        default:
          try RowBlocks.withQuantized(stored, of: values, count: count, cols: item.shape[1], ledger: ledger) {
            try sink($0)
          }
        }
      }
      done += item.count
      progress(done, total)
    }
  }

  private func writeJSON(_ object: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    try AtomicFileWriter.write(Array(data), to: path)
  }
}
