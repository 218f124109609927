internal import Formats
import Foundation
public import Memory
import Quantization

/// Writes a model (from any format EdgeTune reads) as an NF4 file, one tensor at a time and each in blocks of rows
/// (`RowBlocks`): decode to fp32, quantize, write. Peak memory is one block's fp32 values and its output, plus an NF4
/// tensor's per-block scales and error sums (12 bytes per 64 weights) kept for its double quantization, whatever the
/// model's size.
/// ref: Tools/reference/nf4_reference.py (SPEC); the file layout is described in Formats/NF4ModelFile.swift.
public enum NF4Converter {
  public struct Options: Sendable {
    /// How the embedding matrix and an untied output head are stored.
    public enum EmbeddingStorage: String, Sendable, CaseIterable { case nf4, f16, f32 }
    public var blockSize = 64
    public var nestedBlockSize = 256
    public var doubleQuantization = true
    public var embeddings = EmbeddingStorage.nf4
    public init() {}
  }

  /// What happened to one tensor.
  public struct TensorReport: Sendable {
    public var name: String
    public var shape: [Int]
    /// "NF4", "F16" or "F32".
    public var storage: String
    public var bytes: Int
    /// RMS of (decoded − original) relative to the original's standard deviation; 0 for lossless storage.
    public var relativeRMSE: Double
  }

  public struct Result: Sendable {
    public var tensors: [TensorReport]
    public var fileBytes: Int
    /// Bits per weight of the NF4 tensors alone (all their parts).
    public var quantizedBitsPerWeight: Double
    /// Bits per parameter of the whole file.
    public var fileBitsPerWeight: Double
  }

  /// One tensor of the output: the model's weight and how it is stored.
  struct Item {
    var weight: NamedWeight
    var storage: String
    var name: String { weight.name }
    var shape: [Int] { weight.shape }
    var count: Int { shape.reduce(1, *) }
  }

  /// Converts `model` into an NF4 file at `path` (atomically). `progress(done, total)` counts source elements.
  public static func convert(
    _ model: LanguageModel, to path: String, options: Options, ledger: MemoryLedger,
    progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> Result {
    guard options.blockSize >= 2, options.blockSize % 2 == 0, options.blockSize <= 4096,
      options.nestedBlockSize >= 1, options.nestedBlockSize <= 1 << 16
    else {
      throw ModelError.invalidConfig(path: path, reason: "block sizes must be even and at most 4096 (nested: 65536)")
    }
    let items = plan(model, options: options)
    let plans = items.flatMap { entries(name: $0.name, shape: $0.shape, storage: $0.storage, options: options) }
    let writer = try SafetensorsWriter(path: path, plans: plans, metadata: try fileMetadata(model, options: options))
    let total = items.reduce(0) { $0 + $1.count }
    var done = 0
    var reports: [TensorReport] = []
    for item in items {
      var report = TensorReport(
        name: item.name, shape: item.shape, storage: item.storage,
        bytes: entries(name: item.name, shape: item.shape, storage: item.storage, options: options).reduce(0) {
          $0 + $1.byteCount
        }, relativeRMSE: 0)
      switch (item.storage, item.weight.kind) {
      case ("NF4", .matrix(let m, _)):
        report.relativeRMSE = try writeNF4(m, of: model, writer: writer, options: options, ledger: ledger)
      case ("F16", _):
        var error = ErrorAccumulator()
        try RowBlocks.forEach(item.weight, of: model, ledger: ledger) { values, count in
          try RowBlocks.withHalves(of: values, count: count, ledger: ledger) { half in
            for i in 0..<count { error.add(original: values[i], decoded: floatFromHalfBits(half[i])) }
            try writer.writePart(UnsafeRawBufferPointer(start: half, count: count * 2))
          }
        }
        report.relativeRMSE = error.relative
      default:
        try RowBlocks.forEach(item.weight, of: model, ledger: ledger) { values, count in
          try writer.writePart(UnsafeRawBufferPointer(start: values, count: count * 4))
        }
      }
      reports.append(report)
      done += item.count
      progress(done, total)
    }
    try writer.finish()
    let fileBytes = fileSize(atPath: path)
    let quantized = reports.filter { $0.storage == "NF4" }
    let quantizedWeights = quantized.reduce(0) { $0 + $1.shape.reduce(1, *) }
    let quantizedBytes = quantized.reduce(0) { $0 + $1.bytes }
    return Result(
      tensors: reports, fileBytes: fileBytes,
      quantizedBitsPerWeight: quantizedWeights > 0 ? Double(quantizedBytes * 8) / Double(quantizedWeights) : 0,
      fileBitsPerWeight: Double(fileBytes * 8) / Double(max(total, 1)))
  }

  /// The output tensors in file order (`ModelWeights.named`), each with how it is stored.
  static func plan(_ model: LanguageModel, options: Options) -> [Item] {
    let embeddingStorage = options.embeddings.rawValue.uppercased()
    return model.weights.named(config: model.config).map { weight in
      switch weight.kind {
      case .matrix(_, let isEmbedding): Item(weight: weight, storage: isEmbedding ? embeddingStorage : "NF4")
      case .vector: Item(weight: weight, storage: "F32")
      }
    }
  }

  // MARK: the bitsandbytes serialization of one quantized weight

  /// The quant state JSON is written with its offset padded to a fixed width, so its byte count is known before
  /// quantizing (the header is planned first). JSON allows the trailing spaces; bitsandbytes parses it with json.loads.
  static let offsetWidth = 26

  static func quantStateJSON(shape: [Int], options: Options, offset: Float?) -> [UInt8] {
    var text =
      "{\"quant_type\": \"nf4\", \"blocksize\": \(options.blockSize), \"dtype\": \"float32\", \"shape\": ["
      + shape.map(String.init).joined(separator: ", ") + "]"
    if options.doubleQuantization {
      let number = offset.map { "\(Double($0))" } ?? ""
      text +=
        ", \"nested_blocksize\": \(options.nestedBlockSize), \"nested_dtype\": \"float32\", \"nested_offset\": "
        + number + "}" + String(repeating: " ", count: max(0, offsetWidth - number.count))
    } else {
      text += "}"
    }
    return Array(text.utf8)
  }

  /// The file entries of one tensor stored as `storage` ("NF4", "F16" or "F32"), in the order they are written; their
  /// byte counts add up to what the tensor costs.
  static func entries(name: String, shape: [Int], storage: String, options: Options) -> [SafetensorsWriter.Plan] {
    let count = shape.reduce(1, *)
    switch storage {
    case "F32": return [.init(name: name, dtype: "F32", shape: shape, byteCount: count * 4)]
    case "F16": return [.init(name: name, dtype: "F16", shape: shape, byteCount: count * 2)]
    default: break
    }
    let layout = NF4Quantizer.Layout(
      count: count, blockSize: options.blockSize, nestedBlockSize: options.nestedBlockSize)
    let state = quantStateJSON(shape: shape, options: options, offset: nil).count
    let w = name
    var plans: [SafetensorsWriter.Plan] = [
      .init(name: w, dtype: "U8", shape: [layout.packedBytes, 1], byteCount: layout.packedBytes)
    ]
    if options.doubleQuantization {
      plans.append(.init(name: w + ".absmax", dtype: "U8", shape: [layout.blocks], byteCount: layout.blocks))
      plans.append(.init(name: w + ".quant_map", dtype: "F32", shape: [16], byteCount: 64))
      plans.append(
        .init(
          name: w + ".nested_absmax", dtype: "F32", shape: [layout.nestedBlocks], byteCount: layout.nestedBlocks * 4))
      plans.append(.init(name: w + ".nested_quant_map", dtype: "F32", shape: [256], byteCount: 1024))
    } else {
      plans.append(.init(name: w + ".absmax", dtype: "F32", shape: [layout.blocks], byteCount: layout.blocks * 4))
      plans.append(.init(name: w + ".quant_map", dtype: "F32", shape: [16], byteCount: 64))
    }
    plans.append(.init(name: w + NF4ModelFile.quantStateSuffix, dtype: "U8", shape: [state], byteCount: state))
    return plans
  }

  /// `__metadata__` of an NF4 file: what a reader needs to run the model without any other file.
  static func fileMetadata(_ model: LanguageModel, options: Options) throws -> [(String, String)] {
    let config = try HuggingFaceConfig.encoder.encode(HuggingFaceConfig(model.config))
    let quantization: [String: Any] = [
      "quant_type": "nf4", "blocksize": options.blockSize, "double_quantization": options.doubleQuantization,
      "nested_blocksize": options.nestedBlockSize, "embeddings": options.embeddings.rawValue,
    ]
    let quantizationText = try JSONSerialization.data(withJSONObject: quantization, options: [.sortedKeys])
    var pairs: [(String, String)] = [
      ("format", "pt"), ("edgetune.format", NF4ModelFile.formatName), ("edgetune.version", NF4ModelFile.version),
      ("edgetune.config", String(decoding: config, as: UTF8.self)),
      ("edgetune.quantization", String(decoding: quantizationText, as: UTF8.self)),
      ("edgetune.tokenizer", String(decoding: try model.tokenizer.tokenizerJSON(), as: UTF8.self)),
      ("edgetune.source", (model.path as NSString).lastPathComponent),
    ]
    var special: [String: Int] = [:]
    if let id = model.tokenizer.bosID { special["bos"] = Int(id) }
    if let id = model.eosID { special["eos"] = Int(id) }
    if let id = model.paddingID { special["padding"] = Int(id) }
    if let id = model.tokenizer.unknownID { special["unknown"] = Int(id) }
    let specialText = try JSONSerialization.data(withJSONObject: special, options: [.sortedKeys])
    pairs.append(("edgetune.special_tokens", String(decoding: specialText, as: UTF8.self)))
    if let template = model.chatTemplate.source { pairs.append(("edgetune.chat_template", template)) }
    return pairs
  }
}
