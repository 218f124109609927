import Formats

extension BPETokenizer {
  /// From a Hugging Face tokenizer.json: `model.type` BPE over byte-level symbols, `model.vocab`, `model.merges`
  /// (`"a b"` strings or `["a", "b"]` pairs), `added_tokens`, and one of the pre-tokenizer shapes
  /// `JSONShape.preTokenizer` recognizes. BOS comes from a `TemplateProcessing` post-processor that starts with a
  /// special token (then `addBOS` is true); EOS is not part of tokenizer.json and stays nil.
  /// `source` is the path for error messages; anything unsupported throws a `TokenizerError` naming it.
  /// The text is walked in place (`TokenizerJSONLoader`), never parsed into a tree.
  public convenience init(tokenizerJSON bytes: [UInt8], source: String) throws {
    let parts = try bytes.withUnsafeBufferPointer { text in
      if let offset = JSONReader.firstInvalidUTF8(text) {
        throw TokenizerError(
          .invalidUTF8, source: source, location: "byte \(offset)", "the file is not valid UTF-8")
      }
      return try TokenizerJSONLoader(text: text, shape: JSONShape(source: source)).load()
    }
    self.init(
      vocabulary: parts.vocabulary, merges: parts.merges, special: parts.special, matchable: parts.matchable,
      preTokenizer: parts.preTokenizer, ignoreMerges: parts.ignoreMerges, normalizeNFC: parts.normalizeNFC,
      bosID: parts.bosID, eosID: nil, unknownID: parts.unknownID, paddingID: nil, addBOS: parts.bosID != nil,
      source: source)
  }
}
