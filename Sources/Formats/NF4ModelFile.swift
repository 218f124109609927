import Foundation
internal import Memory
public import Quantization

/// EdgeTune's NF4 model file: one safetensors file in the bitsandbytes 4-bit serialization (Hugging Face tensor
/// names; each quantized weight `W` stored as `W` packed uint8, `W.absmax`, `W.quant_map`, `W.nested_absmax`,
/// `W.nested_quant_map`, `W.quant_state.bitsandbytes__nf4`), with the model configuration, tokenizer and chat
/// template in `__metadata__`, a CRC-32 per tensor, and the data section starting on a page boundary.
///
/// Metadata keys: `format` = "pt", `edgetune.format` = "nf4", `edgetune.version` = "1", `edgetune.config`
/// (config.json text), `edgetune.tokenizer` (tokenizer.json text), `edgetune.chat_template`,
/// `edgetune.quantization` (block sizes), `edgetune.special_tokens` (bos/eos/padding ids), `edgetune.checksums` (tensor → "crc32:xxxxxxxx").
public final class NF4ModelFile: @unchecked Sendable {
  // @unchecked Sendable: immutable after init; the mapping is read-only.
  public static let formatName = "nf4"
  public static let version = "1"
  public static let quantStateSuffix = ".quant_state.bitsandbytes__nf4"

  /// One NF4-quantized tensor's parts, validated against each other.
  public struct QuantizedTensor: Sendable {
    public let name: String
    public let shape: [Int]
    public let decoder: NF4Decoder
    /// File bytes of all its parts, for page advice.
    public let fileRange: Range<Int>
    public let storageBytes: Int
    /// File offset of the packed codes (two per byte, row-major), so a row range maps to a byte range.
    public let packedFileOffset: Int
  }

  public let path: String
  public let file: SafetensorsFile
  public let config: JSONObject
  public let chatTemplate: String?

  public init(path: String) throws {
    let file = try SafetensorsFile(path: path)
    guard file.metadata["edgetune.format"] == Self.formatName else {
      throw FormatError.invalidMetadata(
        path: path, key: "edgetune.format",
        reason: "this safetensors file is not an EdgeTune NF4 model (make one with `edgetune convert`)")
    }
    guard let version = file.metadata["edgetune.version"], version == Self.version else {
      throw FormatError.unsupportedVersion(
        path: path, version: Int(file.metadata["edgetune.version"] ?? "") ?? -1, supported: Self.version)
    }
    guard let configText = file.metadata["edgetune.config"] else {
      throw FormatError.missingMetadata(path: path, key: "edgetune.config")
    }
    guard file.metadata["edgetune.tokenizer"] != nil else {
      throw FormatError.missingMetadata(path: path, key: "edgetune.tokenizer")
    }
    self.path = path
    self.file = file
    self.config = try JSONObject(text: configText, path: path + " (edgetune.config)")
    self.chatTemplate = file.metadata["edgetune.chat_template"]
  }

  /// `edgetune.tokenizer` (tokenizer.json) as UTF-8, copied on each call: the header's metadata already holds the
  /// text for the life of the file, and a stored copy kept another 2 MB (SmolLM2) resident after the tokenizer loaded.
  public var tokenizerJSON: [UInt8] { Array((file.metadata["edgetune.tokenizer"] ?? "").utf8) }

  /// `edgetune.special_tokens`: ids tokenizer.json has no place for ("bos", "eos", "padding", "unknown").
  public var specialTokenIDs: [String: Int32] {
    guard let text = file.metadata["edgetune.special_tokens"], let object = try? JSONObject(text: text, path: path)
    else {
      return [:]
    }
    var ids: [String: Int32] = [:]
    for (key, value) in object.values { if let id = value as? Int { ids[key] = Int32(truncatingIfNeeded: id) } }
    return ids
  }

  public func isQuantized(_ name: String) -> Bool { file.entry(name + Self.quantStateSuffix) != nil }

  public func contains(_ name: String) -> Bool { file.entry(name) != nil }

  /// The parts of quantized tensor `name`, checked for consistency: sizes, types, quant state.
  public func quantized(_ name: String) throws(FormatError) -> QuantizedTensor {
    let state = try quantState(name)
    guard let blockSize = state["blocksize"] as? Int, blockSize > 0, blockSize % 2 == 0, blockSize <= 1 << 16 else {
      throw .invalidMetadata(path: path, key: name + Self.quantStateSuffix, reason: "blocksize is missing or invalid")
    }
    guard state["quant_type"] as? String == "nf4" else {
      throw .invalidMetadata(path: path, key: name + Self.quantStateSuffix, reason: "quant_type is not \"nf4\"")
    }
    guard let shape = state["shape"] as? [Int], !shape.isEmpty, shape.allSatisfy({ $0 > 0 }),
      let count = checkedElementCount(shape)
    else {
      throw .invalidMetadata(path: path, key: name + Self.quantStateSuffix, reason: "shape is missing or invalid")
    }
    let layout = NF4Quantizer.Layout(count: count, blockSize: blockSize)
    let packed = try part(name, dtype: .uint8, count: layout.packedBytes, what: "packed codes")
    let codeView = try part(name + ".quant_map", dtype: .ggml(.f32), count: 16, what: "NF4 code table")
    let code4 = try floats(codeView)
    // Every stored part counts: codes, scales, code tables and the quant state itself.
    var views = [packed, codeView, try file.tensor(name + Self.quantStateSuffix)]
    let scales: NF4Decoder.Scales
    var code8: [Float] = []
    if let groupSize = state["nested_blocksize"] as? Int {
      guard groupSize > 0, groupSize <= 1 << 20, let offset = (state["nested_offset"] as? NSNumber)?.floatValue,
        offset.isFinite
      else {
        throw .invalidMetadata(
          path: path, key: name + Self.quantStateSuffix, reason: "nested_blocksize or nested_offset invalid")
      }
      let nestedLayout = NF4Quantizer.Layout(count: count, blockSize: blockSize, nestedBlockSize: groupSize)
      let q = try part(name + ".absmax", dtype: .uint8, count: layout.blocks, what: "8-bit block scales")
      let groups = try part(
        name + ".nested_absmax", dtype: .ggml(.f32), count: nestedLayout.nestedBlocks, what: "group scales")
      let map = try part(name + ".nested_quant_map", dtype: .ggml(.f32), count: 256, what: "8-bit scale code")
      code8 = try floats(map)
      views += [q, groups, map]
      scales = .nested(
        q: q.data.assumingMemoryBound(to: UInt8.self), groupAbsmax: groups.data, groupSize: groupSize, offset: offset)
    } else {
      let absmax = try part(name + ".absmax", dtype: .ggml(.f32), count: layout.blocks, what: "block scales")
      views.append(absmax)
      scales = .plain(absmax: absmax.data)
    }
    let decoder = NF4Decoder(
      count: count, blockSize: blockSize, packed: packed.data.assumingMemoryBound(to: UInt8.self), scales: scales,
      code4: code4, code8: code8)
    let lower = views.map(\.fileOffset).min()!
    let upper = views.map { $0.fileOffset + $0.byteCount }.max()!
    return QuantizedTensor(
      name: name, shape: shape, decoder: decoder, fileRange: lower..<upper,
      storageBytes: views.reduce(0) { $0 + $1.byteCount }, packedFileOffset: packed.fileOffset)
  }

  /// A plain (not quantized) tensor.
  public func tensor(_ name: String) throws(FormatError) -> TensorView { try file.tensor(name) }

  /// Verifies the file's checksums (`SafetensorsFile.verifyChecksums`); returns the number of tensors checked.
  @discardableResult
  public func verifyChecksums(progress: (Int, Int) -> Void = { _, _ in }) throws -> Int {
    try file.verifyChecksums(progress: progress)
  }

  private func quantState(_ name: String) throws(FormatError) -> [String: Any] {
    let key = name + Self.quantStateSuffix
    guard let view = try? file.tensor(key) else { throw .missingTensor(path: path, tensor: key) }
    let object = try JSONFile.object(view.bytes, path: "\(path) (\(key))")
    return object
  }

  private func part(_ name: String, dtype: ElementType, count: Int, what: String) throws(FormatError) -> TensorView {
    guard let view = try? file.tensor(name) else {
      throw .missingTensor(path: path, tensor: "\(name) (\(what))")
    }
    guard view.type == dtype, view.elementCount == count else {
      throw .invalidShape(
        path: path, tensor: name,
        reason: "\(what) should be \(count) values of \(dtype), the file has \(view.elementCount) of \(view.type)")
    }
    return view
  }

  private func floats(_ view: TensorView) throws(FormatError) -> [Float] {
    (0..<view.elementCount).map { view.data.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
  }
}
