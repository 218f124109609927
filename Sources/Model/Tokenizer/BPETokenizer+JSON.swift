import Foundation  // JSONSerialization

extension BPETokenizer {
  /// From a Hugging Face tokenizer.json: `model.type` BPE over byte-level symbols, `model.vocab`, `model.merges`
  /// (`"a b"` strings or `["a", "b"]` pairs), `added_tokens`, and one of the pre-tokenizer shapes
  /// `JSONShape.preTokenizer` recognizes. BOS comes from a `TemplateProcessing` post-processor that starts with a
  /// special token (then `addBOS` is true); EOS is not part of tokenizer.json and stays nil.
  /// `source` is the path for error messages; anything unsupported throws a `TokenizerError` naming it.
  public convenience init(tokenizerJSON bytes: [UInt8], source: String) throws {
    if let offset = JSONShape.firstInvalidUTF8(bytes) {
      throw TokenizerError(
        .invalidUTF8, source: source, location: "byte \(offset)", "the file is not valid UTF-8")
    }
    let root: [String: Any]
    do {
      guard let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
        throw TokenizerError(.invalidValue, source: source, location: "top level", "is not a JSON object")
      }
      root = object
    } catch let error as TokenizerError {
      throw error
    } catch {
      throw TokenizerError(.invalidJSON, source: source, location: "", "not valid JSON: \(error)")
    }
    let shape = JSONShape(source: source)
    let model = try shape.object(root["model"], "model")
    if let type = model["type"], !(type is NSNull) {
      let name = try shape.string(type, "model.type")
      guard name == "BPE" else {
        throw TokenizerError(
          .unsupported, source: source, location: "model.type",
          "model type \"\(name)\" is not supported; only byte-level BPE is")
      }
    }
    try shape.checkBPEOptions(model)
    let vocab = try shape.object(model["vocab"], "model.vocab")
    let pairs = try shape.mergePairs(model["merges"])

    // Ids come from the vocabulary and the added tokens; every id below the largest must have a token.
    var byID: [Int: String] = [:]
    byID.reserveCapacity(vocab.count)
    for (token, value) in vocab {
      byID[try shape.tokenID(value, "model.vocab[\"\(token)\"]")] = token
    }
    var special: Set<Int> = []
    var matchable: [SpecialToken] = []
    let added = try shape.array(root["added_tokens"] ?? [Any](), "added_tokens")
    for (index, entry) in added.enumerated() {
      let path = "added_tokens[\(index)]"
      let token = try shape.object(entry, path)
      let id = try shape.tokenID(token["id"], "\(path).id")
      let content = try shape.string(token["content"], "\(path).content")
      byID[id] = content
      if try shape.bool(token["special"], "\(path).special", default: false) { special.insert(id) }
      matchable.append(
        SpecialToken(
          bytes: Array(content.utf8), id: Int32(id),
          lstrip: try shape.bool(token["lstrip"], "\(path).lstrip", default: false),
          rstrip: try shape.bool(token["rstrip"], "\(path).rstrip", default: false)))
    }
    let count = (byID.keys.max() ?? -1) + 1
    var tokens: [String] = []
    tokens.reserveCapacity(count)
    for id in 0..<count {
      guard let token = byID[id] else {
        throw TokenizerError(
          .invalidValue, source: source, location: "model.vocab",
          "no token has id \(id), but ids run up to \(count - 1)")
      }
      tokens.append(token)
    }
    let flags = (0..<count).map { special.contains($0) }
    let kind = try shape.preTokenizer(root["pre_tokenizer"])
    let nfc = try shape.normalizerIsNFC(root["normalizer"])
    try shape.checkDecoder(root["decoder"])
    var unknownID: Int32? = nil
    if let unk = model["unk_token"], !(unk is NSNull) {
      let name = try shape.string(unk, "model.unk_token")
      guard let id = tokens.firstIndex(of: name) else {
        throw TokenizerError(
          .unknownToken, source: source, location: "model.unk_token", "\"\(name)\" is not in the vocabulary")
      }
      unknownID = Int32(id)
    }
    let bosToken = try shape.leadingSpecial(root["post_processor"])
    var bosID: Int32? = nil
    if let bosToken {
      guard let id = tokens.firstIndex(of: bosToken) else {
        throw TokenizerError(
          .unknownToken, source: source, location: "post_processor",
          "BOS token \"\(bosToken)\" is not in the vocabulary")
      }
      bosID = Int32(id)
    }
    let ignoreMerges = try shape.bool(model["ignore_merges"], "model.ignore_merges", default: false)
    try self.init(
      tokens: tokens, mergePairs: pairs, mergeLocation: "model.merges", special: flags, matchable: matchable,
      preTokenizer: kind, ignoreMerges: ignoreMerges, normalizeNFC: nfc, bosID: bosID, eosID: nil,
      unknownID: unknownID, paddingID: nil, addBOS: bosID != nil, source: source)
  }
}
