internal import Formats
import Foundation
public import Memory
import Quantization
import Tensor

/// Writes a model (from any format EdgeTune reads) as an NF4 file, one tensor at a time: decode to fp32, quantize,
/// write. Peak memory is one tensor's fp32 copy plus its quantized parts, whatever the model's size.
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

  /// One tensor of the output, with where its fp32 values come from.
  struct Item {
    var name: String
    var shape: [Int]
    var storage: String
    var fill: (UnsafeMutablePointer<Float>) -> Void
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
    var plans: [SafetensorsWriter.Plan] = []
    for item in items { plans += entries(item, options: options) }
    let writer = try SafetensorsWriter(path: path, plans: plans, metadata: try fileMetadata(model, options: options))
    let total = items.reduce(0) { $0 + $1.count }
    var done = 0
    var reports: [TensorReport] = []
    for item in items {
      let source = try AnonymousBuffer<Float>(count: item.count, label: "convert-source", ledger: ledger)
      item.fill(source.pointer)
      switch item.storage {
      case "NF4":
        reports.append(try writeNF4(item, source.pointer, writer: writer, options: options, ledger: ledger))
      case "F16":
        let half = try AnonymousBuffer<UInt16>(count: item.count, label: "convert-output", ledger: ledger)
        var error = ErrorAccumulator()
        for i in 0..<item.count {
          half.pointer[i] = halfBitsFromFloat(source.pointer[i])
          error.add(original: source.pointer[i], decoded: floatFromHalfBits(half.pointer[i]))
        }
        try writer.write(UnsafeRawBufferPointer(start: half.pointer, count: item.count * 2))
        reports.append(
          TensorReport(
            name: item.name, shape: item.shape, storage: "F16", bytes: item.count * 2, relativeRMSE: error.relative))
      default:
        try writer.write(UnsafeRawBufferPointer(start: source.pointer, count: item.count * 4))
        reports.append(
          TensorReport(name: item.name, shape: item.shape, storage: "F32", bytes: item.count * 4, relativeRMSE: 0))
      }
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
      case .matrix(let m, let isEmbedding):
        Item(name: weight.name, shape: weight.shape, storage: isEmbedding ? embeddingStorage : "NF4") { destination in
          decodeAll(m, into: destination)
          model.dropPages(of: m)
        }
      case .vector(let v):
        Item(name: weight.name, shape: weight.shape, storage: "F32") { destination in
          v.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: v.count) }
        }
      }
    }
  }

  /// Every row of a frozen matrix, decoded in parallel row ranges.
  static func decodeAll(_ m: any FrozenMatrix, into destination: UnsafeMutablePointer<Float>) {
    let out = SendablePointer(destination)
    let parts = Threading.workers
    parallelParts(parts) { part in
      let rows = partition(m.rows, parts: parts, part: part)
      if !rows.isEmpty { m.decodeRows(rows, into: out.pointer + rows.lowerBound * m.cols) }
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

  static func entries(_ item: Item, options: Options) -> [SafetensorsWriter.Plan] {
    switch item.storage {
    case "F32": return [.init(name: item.name, dtype: "F32", shape: item.shape, byteCount: item.count * 4)]
    case "F16": return [.init(name: item.name, dtype: "F16", shape: item.shape, byteCount: item.count * 2)]
    default: break
    }
    let layout = NF4Quantizer.Layout(
      count: item.count, blockSize: options.blockSize, nestedBlockSize: options.nestedBlockSize)
    let state = quantStateJSON(shape: item.shape, options: options, offset: nil).count
    let w = item.name
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

  static func writeNF4(
    _ item: Item, _ source: UnsafeMutablePointer<Float>, writer: SafetensorsWriter, options: Options,
    ledger: MemoryLedger
  ) throws -> TensorReport {
    let layout = NF4Quantizer.Layout(
      count: item.count, blockSize: options.blockSize, nestedBlockSize: options.nestedBlockSize)
    let packed = try AnonymousBuffer<UInt8>(count: layout.packedBytes, label: "convert-output", ledger: ledger)
    let absmax = try AnonymousBuffer<Float>(count: layout.blocks, label: "convert-output", ledger: ledger)
    let parts = Threading.workers
    let input = SendableConstPointer(UnsafePointer(source))
    let out = SendablePointer(packed.pointer)
    let scales = SendablePointer(absmax.pointer)
    let firstBad = SendablePointer(UnsafeMutablePointer<Int>.allocate(capacity: parts))
    defer { firstBad.pointer.deallocate() }
    let blockSize = options.blockSize
    let count = item.count
    let blocks = layout.blocks
    parallelParts(parts) { part in
      let range = partition(blocks, parts: parts, part: part)
      firstBad.pointer[part] =
        NF4Quantizer.quantize(
          input.pointer, count: count, blockSize: blockSize, blocks: range, packed: out.pointer, absmax: scales.pointer)
        ?? -1
    }
    if let bad = (0..<parts).map({ firstBad.pointer[$0] }).first(where: { $0 >= 0 }) {
      throw ModelError.invalidConfig(
        path: writer.path,
        reason: "tensor '\(item.name)' holds a non-finite value at element \(bad); cannot quantize it")
    }
    var error = ErrorAccumulator()
    var storage = packed.count
    try writer.write(UnsafeRawBufferPointer(start: packed.pointer, count: packed.count))
    if options.doubleQuantization {
      let scales = try writeNestedScales(
        absmax: absmax.pointer, layout: layout, shape: item.shape, options: options, writer: writer,
        label: "convert-output", ledger: ledger)
      let nestedAbsmax = scales.nestedAbsmax
      let offset = scales.offset
      storage += blocks + 64 + nestedAbsmax.count * 4 + 1024
      error = nestedAbsmax.withUnsafeBytes { groups in
        let decoder = NF4Decoder(
          count: count, blockSize: blockSize, packed: packed.pointer,
          scales: .nested(
            q: scales.q.pointer, groupAbsmax: groups.baseAddress!, groupSize: options.nestedBlockSize, offset: offset),
          code4: NF4Tables.code, code8: NF4Tables.dynamicMapSigned)
        let measured = measureError(source, decoder: decoder, count: count)
        _ = scales.q.pointer  // the decoder borrows q's memory: keep q alive through the measurement
        return measured
      }
    } else {
      try writer.write(UnsafeRawBufferPointer(start: absmax.pointer, count: blocks * 4))
      try writeFloats(NF4Tables.code, writer)
      try writer.write(quantStateJSON(shape: item.shape, options: options, offset: nil))
      storage += blocks * 4 + 64
      let decoder = NF4Decoder(
        count: count, blockSize: blockSize, packed: packed.pointer,
        scales: .plain(absmax: UnsafeRawPointer(absmax.pointer)),
        code4: NF4Tables.code, code8: [])
      error = measureError(source, decoder: decoder, count: count)
    }
    storage += quantStateJSON(shape: item.shape, options: options, offset: nil).count
    _ = packed.pointer  // the decoders above borrowed packed's and absmax's memory
    _ = absmax.pointer
    return TensorReport(
      name: item.name, shape: item.shape, storage: "NF4", bytes: storage, relativeRMSE: error.relative)
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

  /// The double-quantized scales of one tensor, as written.
  struct NestedScales: ~Copyable {
    /// 8-bit code per block.
    let q: AnonymousBuffer<UInt8>
    /// fp32 absmax per group of `nestedBlockSize` blocks.
    let nestedAbsmax: [Float]
    /// The mean subtracted before quantizing (added back when decoding).
    let offset: Float
    /// Bytes of the quant state JSON written last.
    let stateBytes: Int
  }

  /// Double-quantizes a tensor's block absmax values and writes the parts that follow its packed codes, in the order
  /// `entries` plans them: 8-bit scales, NF4 table, group scales, 8-bit table, quant state.
  static func writeNestedScales(
    absmax: UnsafePointer<Float>, layout: NF4Quantizer.Layout, shape: [Int], options: Options,
    writer: SafetensorsWriter, label: String, ledger: MemoryLedger
  ) throws -> NestedScales {
    let q = try AnonymousBuffer<UInt8>(count: layout.blocks, label: label, ledger: ledger)
    var nestedAbsmax = [Float](repeating: 0, count: layout.nestedBlocks)
    let offset = nestedAbsmax.withUnsafeMutableBufferPointer { n in
      NF4Quantizer.doubleQuantize(
        absmax: absmax, blocks: layout.blocks, nestedBlockSize: layout.nestedBlockSize, q: q.pointer,
        nestedAbsmax: n.baseAddress!)
    }
    try writer.write(UnsafeRawBufferPointer(start: q.pointer, count: layout.blocks))
    try writeFloats(NF4Tables.code, writer)
    try writeFloats(nestedAbsmax, writer)
    try writeFloats(NF4Tables.dynamicMapSigned, writer)
    let state = quantStateJSON(shape: shape, options: options, offset: offset)
    try writer.write(state)
    return NestedScales(q: q, nestedAbsmax: nestedAbsmax, offset: offset, stateBytes: state.count)
  }

  static func writeFloats(_ values: [Float], _ writer: SafetensorsWriter) throws {
    try values.withUnsafeBytes { try writer.write($0) }
  }

  /// Decodes the quantized tensor in chunks and compares it with the source.
  static func measureError(_ source: UnsafePointer<Float>, decoder: NF4Decoder, count: Int) -> ErrorAccumulator {
    var total = ErrorAccumulator()
    let chunk = 1 << 14
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
    defer { buffer.deallocate() }
    var start = 0
    while start < count {
      let n = min(chunk, count - start)
      decoder.decode(start..<(start + n), into: buffer)
      for i in 0..<n { total.add(original: source[start + i], decoded: buffer[i]) }
      start += n
    }
    return total
  }
}

/// Σ(decoded − original)², Σ original, Σ original² in Double: the relative RMSE of a stored tensor.
struct ErrorAccumulator {
  var count = 0
  var squaredError = 0.0
  var sum = 0.0
  var sumOfSquares = 0.0

  mutating func add(original: Float, decoded: Float) {
    let o = Double(original)
    let d = Double(decoded) - o
    count += 1
    squaredError += d * d
    sum += o
    sumOfSquares += o * o
  }

  /// RMSE / standard deviation of the original (0 when the original is constant).
  var relative: Double {
    guard count > 0 else { return 0 }
    let mean = sum / Double(count)
    let variance = max(0, sumOfSquares / Double(count) - mean * mean)
    return variance > 0 ? (squaredError / Double(count)).squareRoot() / variance.squareRoot() : 0
  }
}
