import Formats

/// Typed reads from tokenizer.json's small parts (`JSONValue`), each failing with a `TokenizerError` that names the key path,
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

  func object(_ value: JSONValue?, _ location: String) throws -> [String: JSONValue] {
    guard let value else { throw fail(.missingKey, location, "is missing") }
    guard let object = value.object else { throw fail(.invalidValue, location, "is not an object") }
    return object
  }

  func array(_ value: JSONValue?, _ location: String) throws -> [JSONValue] {
    guard let value else { throw fail(.missingKey, location, "is missing") }
    guard let array = value.array else { throw fail(.invalidValue, location, "is not an array") }
    return array
  }

  func string(_ value: JSONValue?, _ location: String) throws -> String {
    guard let value else { throw fail(.missingKey, location, "is missing") }
    guard let string = value.string else { throw fail(.invalidValue, location, "is not a string") }
    return string
  }

  func bool(_ value: JSONValue?, _ location: String, default fallback: Bool) throws -> Bool {
    guard let value, !value.isNull else { return fallback }
    guard let flag = value.bool else { throw fail(.invalidValue, location, "is not true or false") }
    return flag
  }

  func tokenID(_ value: JSONValue?, _ location: String) throws -> Int {
    guard let value else { throw fail(.missingKey, location, "is missing") }
    guard let id = Self.tokenID(value.number) else {
      throw fail(.invalidValue, location, "is not a token id (a non-negative integer)")
    }
    return id
  }

  /// A number that is a token id: integral (as Foundation's `as? Int` accepted, `5.0` included), in 0..<2^31-1.
  static func tokenID(_ number: Double?) -> Int? {
    guard let number, number >= 0, number < Double(Int32.max), number == number.rounded(.towardZero) else {
      return nil
    }
    return Int(number)
  }

  /// Rejects BPE options that change the algorithm (byte fallback, subword affixes, dropout).
  func checkBPEOptions(_ model: [String: JSONValue]) throws {
    if try bool(model["byte_fallback"], "model.byte_fallback", default: false) {
      throw fail(.unsupported, "model.byte_fallback", "byte fallback (SentencePiece-style BPE) is not supported")
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
      if let affix = model[key]?.string, !affix.isEmpty {
        throw fail(.unsupported, "model.\(key)", "\"\(affix)\" is not supported; byte-level BPE has none")
      }
    }
    if let dropout = model["dropout"]?.number, dropout > 0 {
      throw fail(.unsupported, "model.dropout", "BPE dropout \(dropout) is not supported")
    }
  }

  /// A short description of a JSON component, for "unsupported" messages: `Sequence[Digits, ByteLevel]`.
  func describe(_ value: JSONValue?) -> String {
    guard let object = value?.object else { return value?.description ?? "nothing" }
    let type = object["type"]?.string ?? "untyped"
    let children = (object["pretokenizers"] ?? object["normalizers"] ?? object["decoders"])?.array
    return children.map { "\(type)[\($0.map { describe($0) }.joined(separator: ", "))]" } ?? type
  }

  /// `(isByteLevel, addPrefixSpace, useRegex)` of a component.
  func byteLevel(_ object: [String: JSONValue], _ location: String) throws -> (Bool, Bool, Bool) {
    guard object["type"]?.string == "ByteLevel" else { return (false, false, false) }
    return (
      true, try bool(object["add_prefix_space"], "\(location).add_prefix_space", default: false),
      try bool(object["use_regex"], "\(location).use_regex", default: true)
    )
  }

  /// Recognizes GPT-2 `ByteLevel`, SmolLM2 `Sequence[Digits, ByteLevel]` and Qwen2 / Llama 3
  /// `Sequence[Split(regex), ByteLevel(use_regex: false)]`.
  func preTokenizer(_ value: JSONValue?) throws -> PreTokenizerKind {
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
    guard root["type"]?.string == "Sequence", let steps = root["pretokenizers"]?.array, steps.count == 2,
      let first = steps[0].object, let second = steps[1].object
    else { throw unsupported }
    let (secondIsByteLevel, secondPrefix, secondRegex) = try byteLevel(second, "pre_tokenizer.pretokenizers[1]")
    guard secondIsByteLevel, !secondPrefix else { throw unsupported }
    switch first["type"]?.string {
    case "Digits":
      guard secondRegex, try bool(first["individual_digits"], "pre_tokenizer.pretokenizers[0]", default: false)
      else { throw unsupported }
      return .smollm
    case "Split":
      let pattern = first["pattern"]?["Regex"]?.string
      let behavior = first["behavior"]?.string
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
  func normalizerIsNFC(_ value: JSONValue?) throws -> Bool {
    guard let value, !value.isNull else { return false }
    if value["type"]?.string == "NFC" { return true }
    throw fail(.unsupported, "normalizer", "normalizer \(describe(value)) is not supported (only NFC or null)")
  }

  /// The decoder must undo byte-level mapping (or be absent).
  func checkDecoder(_ value: JSONValue?) throws {
    guard let value, !value.isNull else { return }
    if value["type"]?.string == "ByteLevel" { return }
    throw fail(.unsupported, "decoder", "decoder \(describe(value)) is not supported (only ByteLevel)")
  }

  /// The special token a `TemplateProcessing` post-processor puts before single sequences (Llama 3's BOS).
  func leadingSpecial(_ value: JSONValue?) throws -> String? {
    guard let object = value?.object else { return nil }
    if object["type"]?.string == "Sequence", let processors = object["processors"]?.array {
      for processor in processors {
        if let token = try leadingSpecial(processor) { return token }
      }
      return nil
    }
    guard object["type"]?.string == "TemplateProcessing", let single = object["single"]?.array,
      let special = single.first?["SpecialToken"]?.object
    else { return nil }
    return try string(special["id"], "post_processor.single[0].SpecialToken.id")
  }

}
