import Foundation  // NSNull, NSNumber from JSONSerialization

/// Typed reads from a parsed tokenizer.json, each failing with a `TokenizerError` that names the key path,
/// and the recognizers for the pre-tokenizer, normalizer, decoder and post-processor shapes EdgeTune supports.
/// ref: huggingface/tokenizers `tokenizer/serialization.rs` and the `#[serde(tag = "type")]` component enums.
struct JSONShape {
  let source: String

  static let qwen2Pattern =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
  static let llama3Pattern =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
  static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

  func fail(_ kind: TokenizerError.Kind, _ location: String, _ message: String) -> TokenizerError {
    TokenizerError(kind, source: source, location: location, message)
  }

  func object(_ value: Any?, _ location: String) throws -> [String: Any] {
    guard let value else { throw fail(.missingKey, location, "is missing") }
    guard let object = value as? [String: Any] else { throw fail(.invalidValue, location, "is not an object") }
    return object
  }

  func array(_ value: Any?, _ location: String) throws -> [Any] {
    guard let value else { throw fail(.missingKey, location, "is missing") }
    guard let array = value as? [Any] else { throw fail(.invalidValue, location, "is not an array") }
    return array
  }

  func string(_ value: Any?, _ location: String) throws -> String {
    guard let value else { throw fail(.missingKey, location, "is missing") }
    guard let string = value as? String else { throw fail(.invalidValue, location, "is not a string") }
    return string
  }

  func bool(_ value: Any?, _ location: String, default fallback: Bool) throws -> Bool {
    guard let value, !(value is NSNull) else { return fallback }
    guard let flag = value as? Bool else { throw fail(.invalidValue, location, "is not true or false") }
    return flag
  }

  func tokenID(_ value: Any?, _ location: String) throws -> Int {
    guard let value else { throw fail(.missingKey, location, "is missing") }
    guard let id = value as? Int, id >= 0, id < Int(Int32.max) else {
      throw fail(.invalidValue, location, "is not a token id (a non-negative integer)")
    }
    return id
  }

  /// `model.merges` as `"a b"` strings (tokenizers < 0.20) or `["a", "b"]` pairs.
  func mergePairs(_ value: Any?) throws -> [(String, String)] {
    let merges = try array(value, "model.merges")
    var pairs: [(String, String)] = []
    pairs.reserveCapacity(merges.count)
    for (index, merge) in merges.enumerated() {
      if let text = merge as? String {
        let parts = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
          throw fail(.invalidValue, "model.merges[\(index)]", "\"\(text)\" is not two tokens separated by a space")
        }
        pairs.append((String(parts[0]), String(parts[1])))
      } else if let pair = merge as? [Any], pair.count == 2, let left = pair[0] as? String,
        let right = pair[1] as? String
      {
        pairs.append((left, right))
      } else {
        throw fail(.invalidValue, "model.merges[\(index)]", "is neither \"a b\" nor a pair of strings")
      }
    }
    return pairs
  }

  /// Rejects BPE options that change the algorithm (byte fallback, subword affixes, dropout).
  func checkBPEOptions(_ model: [String: Any]) throws {
    if try bool(model["byte_fallback"], "model.byte_fallback", default: false) {
      throw fail(.unsupported, "model.byte_fallback", "byte fallback (SentencePiece-style BPE) is not supported")
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
      if let affix = model[key] as? String, !affix.isEmpty {
        throw fail(.unsupported, "model.\(key)", "\"\(affix)\" is not supported; byte-level BPE has none")
      }
    }
    if let dropout = model["dropout"] as? Double, dropout > 0 {
      throw fail(.unsupported, "model.dropout", "BPE dropout \(dropout) is not supported")
    }
  }

  /// A short description of a JSON component, for "unsupported" messages: `Sequence[Digits, ByteLevel]`.
  func describe(_ value: Any?) -> String {
    guard let object = value as? [String: Any] else { return value is NSNull ? "null" : "\(value ?? "nothing")" }
    let type = object["type"] as? String ?? "untyped"
    let children = (object["pretokenizers"] ?? object["normalizers"] ?? object["decoders"]) as? [Any]
    return children.map { "\(type)[\($0.map { describe($0) }.joined(separator: ", "))]" } ?? type
  }

  /// `(isByteLevel, addPrefixSpace, useRegex)` of a component.
  func byteLevel(_ object: [String: Any], _ location: String) throws -> (Bool, Bool, Bool) {
    guard object["type"] as? String == "ByteLevel" else { return (false, false, false) }
    return (
      true, try bool(object["add_prefix_space"], "\(location).add_prefix_space", default: false),
      try bool(object["use_regex"], "\(location).use_regex", default: true)
    )
  }

  /// Recognizes GPT-2 `ByteLevel`, SmolLM2 `Sequence[Digits, ByteLevel]` and Qwen2 / Llama 3
  /// `Sequence[Split(regex), ByteLevel(use_regex: false)]`.
  func preTokenizer(_ value: Any?) throws -> PreTokenizerKind {
    let unsupported = fail(
      .unsupported, "pre_tokenizer",
      "pre-tokenizer \(describe(value)) is not supported (known: GPT-2 ByteLevel, SmolLM2 Digits+ByteLevel, "
        + "Qwen2 and Llama 3 Split+ByteLevel)")
    let root = try object(value, "pre_tokenizer")
    let (isByteLevel, prefix, regex) = try byteLevel(root, "pre_tokenizer")
    if isByteLevel {
      guard !prefix else {
        throw fail(.unsupported, "pre_tokenizer.add_prefix_space", "add_prefix_space: true is not supported")
      }
      guard regex else { throw unsupported }
      return .gpt2
    }
    guard root["type"] as? String == "Sequence", let steps = root["pretokenizers"] as? [Any], steps.count == 2,
      let first = steps[0] as? [String: Any], let second = steps[1] as? [String: Any]
    else { throw unsupported }
    let (secondIsByteLevel, secondPrefix, secondRegex) = try byteLevel(second, "pre_tokenizer.pretokenizers[1]")
    guard secondIsByteLevel, !secondPrefix else { throw unsupported }
    switch first["type"] as? String {
    case "Digits":
      guard secondRegex, try bool(first["individual_digits"], "pre_tokenizer.pretokenizers[0]", default: false)
      else { throw unsupported }
      return .smollm
    case "Split":
      let pattern = (first["pattern"] as? [String: Any])?["Regex"] as? String
      let behavior = first["behavior"] as? String
      let invert = try bool(first["invert"], "pre_tokenizer.pretokenizers[0].invert", default: false)
      guard !secondRegex, behavior == "Isolated", !invert else { throw unsupported }
      switch pattern {
      case Self.qwen2Pattern: return .qwen2
      case Self.llama3Pattern: return .llama3
      case Self.gpt2Pattern: return .gpt2
      default:
        throw fail(
          .unsupported, "pre_tokenizer.pretokenizers[0].pattern",
          "split regex \(pattern.map { "\"\($0)\"" } ?? "(not a Regex)") is not one of the GPT-2, Qwen2 "
            + "or Llama 3 patterns")
      }
    default:
      throw unsupported
    }
  }

  /// Whether the normalizer is NFC; null means none; anything else is unsupported.
  func normalizerIsNFC(_ value: Any?) throws -> Bool {
    guard let value, !(value is NSNull) else { return false }
    if let object = value as? [String: Any], object["type"] as? String == "NFC" { return true }
    throw fail(.unsupported, "normalizer", "normalizer \(describe(value)) is not supported (only NFC or null)")
  }

  /// The decoder must undo byte-level mapping (or be absent).
  func checkDecoder(_ value: Any?) throws {
    guard let value, !(value is NSNull) else { return }
    if let object = value as? [String: Any], object["type"] as? String == "ByteLevel" { return }
    throw fail(.unsupported, "decoder", "decoder \(describe(value)) is not supported (only ByteLevel)")
  }

  /// The special token a `TemplateProcessing` post-processor puts before single sequences (Llama 3's BOS).
  func leadingSpecial(_ value: Any?) throws -> String? {
    guard let object = value as? [String: Any] else { return nil }
    if object["type"] as? String == "Sequence", let processors = object["processors"] as? [Any] {
      for processor in processors {
        if let token = try leadingSpecial(processor) { return token }
      }
      return nil
    }
    guard object["type"] as? String == "TemplateProcessing", let single = object["single"] as? [Any],
      let first = single.first as? [String: Any], let special = first["SpecialToken"] as? [String: Any]
    else { return nil }
    return try string(special["id"], "post_processor.single[0].SpecialToken.id")
  }

  /// Byte offset of the first byte that does not belong to a well-formed UTF-8 sequence, or nil.
  /// ref: Unicode 15 Table 3-7 "Well-Formed UTF-8 Byte Sequences".
  static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
    var i = 0
    let n = bytes.count
    while i < n {
      let b0 = bytes[i]
      if b0 < 0x80 {
        i += 1
        continue
      }
      var length = 0
      var low: UInt8 = 0x80
      var high: UInt8 = 0xBF
      switch b0 {
      case 0xC2...0xDF: length = 2
      case 0xE0:
        length = 3
        low = 0xA0
      case 0xE1...0xEC, 0xEE...0xEF: length = 3
      case 0xED:
        length = 3
        high = 0x9F
      case 0xF0:
        length = 4
        low = 0x90
      case 0xF1...0xF3: length = 4
      case 0xF4:
        length = 4
        high = 0x8F
      default: return i
      }
      guard i + length <= n else { return i }
      guard (low...high).contains(bytes[i + 1]) else { return i }
      for k in 2..<max(length, 2) where !(0x80...0xBF).contains(bytes[i + k]) { return i }
      i += length
    }
    return nil
  }
}
