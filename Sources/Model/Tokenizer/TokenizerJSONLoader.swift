import Formats

/// What `BPETokenizer(tokenizerJSON:source:)` needs from a tokenizer.json, in the tokenizer's own tables.
struct TokenizerJSONParts {
  var vocabulary: TokenVocabulary
  var merges: MergeTable
  var special: [Bool]
  var matchable: [BPETokenizer.SpecialToken]
  var preTokenizer: PreTokenizerKind
  var normalizeNFC: Bool
  var ignoreMerges: Bool
  var unknownID: Int32?
  var bosID: Int32?
}

/// Walks a tokenizer.json with `JSONReader`, putting `model.vocab` and `model.merges` straight into a
/// `TokenVocabulary` and a `MergeTable`: SmolLM2's ~100,000 strings never become Foundation or Swift objects, so
/// the load costs the text plus the tables (see `WeightPlan.loadPeakBytes`), where JSONSerialization's tree took
/// ~30 times the text. The small parts (added tokens, pre-tokenizer, normalizer, decoder, post-processor, the model's
/// options) are read as `JSONValue`s for `JSONShape`'s recognizers.
///
/// Checks run in the order the JSONSerialization loader ran them, so each file gives the error it gave: UTF-8 (by
/// the caller), then syntax (the whole text, before any content is judged), then the model, its options, the merges'
/// shape, the vocabulary's ids, the added tokens, the pre-tokenizer, normalizer, decoder, `unk_token`, BOS, and last
/// the tokens each merge names.
struct TokenizerJSONLoader {
  /// The tokenizer.json text, borrowed for the walk.
  let text: UnsafeBufferPointer<UInt8>
  let shape: JSONShape

  var source: String { shape.source }

  func fail(_ kind: TokenizerError.Kind, _ location: String, _ message: String) -> TokenizerError {
    shape.fail(kind, location, message)
  }

  func load() throws -> TokenizerJSONParts {
    do {
      return try walk()
    } catch let error as JSONSyntaxError {
      throw fail(.invalidJSON, "byte \(error.offset)", "not valid JSON: \(error.message)")
    }
  }

  private func walk() throws -> TokenizerJSONParts {
    try JSONReader.validate(text)
    var top = JSONReader(text, at: JSONReader.startOffset(text))
    guard top.peek() == .object else { throw fail(.invalidValue, "top level", "is not a JSON object") }
    let root = try members(at: top.position, walking: ["model"])
    let modelOffset = try offset(root.offsets["model"], .object, "model")
    let model = try members(at: modelOffset, walking: ["vocab", "merges"])
    if let type = model.values["type"], !type.isNull {
      let name = try shape.string(type, "model.type")
      guard name == "BPE" else {
        throw fail(.unsupported, "model.type", "model type \"\(name)\" is not supported; only byte-level BPE is")
      }
    }
    try shape.checkBPEOptions(model.values)
    let vocabOffset = try offset(model.offsets["vocab"], .object, "model.vocab")
    let mergesOffset = try offset(model.offsets["merges"], .array, "model.merges")
    let mergeCount = try forEachMerge(at: mergesOffset) { _, _, _ in }
    let vocab = try vocabularyEntries(at: vocabOffset)

    // Added tokens name their ids too, and override the vocabulary's string for them.
    var addedIDs: [Int] = []
    var addedContents: [String] = []
    var special: Set<Int> = []
    var matchable: [BPETokenizer.SpecialToken] = []
    let added = try shape.array(root.values["added_tokens"] ?? .array([]), "added_tokens")
    for (index, entry) in added.enumerated() {
      let path = "added_tokens[\(index)]"
      let token = try shape.object(entry, path)
      let id = try shape.tokenID(token["id"], "\(path).id")
      let content = try shape.string(token["content"], "\(path).content")
      addedIDs.append(id)
      addedContents.append(content)
      if try shape.bool(token["special"], "\(path).special", default: false) { special.insert(id) }
      matchable.append(
        BPETokenizer.SpecialToken(
          bytes: Array(content.utf8), id: Int32(id),
          lstrip: try shape.bool(token["lstrip"], "\(path).lstrip", default: false),
          rstrip: try shape.bool(token["rstrip"], "\(path).rstrip", default: false)))
    }
    let stringOffsets = try stringOffsetsByID(vocab, addedIDs)
    let flags = (0..<stringOffsets.count).map { special.contains($0) }
    let vocabulary = try buildVocabulary(stringOffsets, addedContents, flags)

    let kind = try shape.preTokenizer(root.values["pre_tokenizer"])
    let nfc = try shape.normalizerIsNFC(root.values["normalizer"])
    try shape.checkDecoder(root.values["decoder"])
    var unknownID: Int32? = nil
    if let unk = model.values["unk_token"], !unk.isNull {
      let name = try shape.string(unk, "model.unk_token")
      guard let id = vocabulary.id(of: name) else {
        throw fail(.unknownToken, "model.unk_token", "\"\(name)\" is not in the vocabulary")
      }
      unknownID = id
    }
    var bosID: Int32? = nil
    if let bosToken = try shape.leadingSpecial(root.values["post_processor"]) {
      guard let id = vocabulary.id(of: bosToken) else {
        throw fail(.unknownToken, "post_processor", "BOS token \"\(bosToken)\" is not in the vocabulary")
      }
      bosID = id
    }
    let ignoreMerges = try shape.bool(model.values["ignore_merges"], "model.ignore_merges", default: false)

    try BPETokenizer.checkVocabulary(vocabulary.count, [("bos", bosID), ("unknown", unknownID)], source)
    var table = MergeTable.Builder(capacity: mergeCount)
    try forEachMerge(at: mergesOffset) { rank, left, right in
      try BPETokenizer.addMerge(&table, left, right, vocabulary, "model.merges", rank, source)
    }
    return TokenizerJSONParts(
      vocabulary: vocabulary, merges: table.finish(), special: flags, matchable: matchable, preTokenizer: kind,
      normalizeNFC: nfc, ignoreMerges: ignoreMerges, unknownID: unknownID, bosID: bosID)
  }

  /// The value offset of a key walked rather than read, checked to be of `kind`.
  private func offset(_ found: Int?, _ kind: JSONReader.Kind, _ location: String) throws -> Int {
    guard let found else { throw fail(.missingKey, location, "is missing") }
    var reader = JSONReader(text, at: found)
    guard reader.peek() == kind else {
      throw fail(.invalidValue, location, "is not \(kind == .object ? "an object" : "an array")")
    }
    return found
  }

  /// The object at `offset`: every member's value read, except the `walked` keys, whose value offsets are kept.
  /// A key that repeats keeps its last value, as JSONSerialization did.
  private func members(at offset: Int, walking walked: Set<String>) throws -> (
    values: [String: JSONValue], offsets: [String: Int]
  ) {
    var reader = JSONReader(text, at: offset)
    try reader.beginObject()
    var values: [String: JSONValue] = [:]
    var offsets: [String: Int] = [:]
    var count = 0
    var key: [UInt8] = []
    while try reader.nextMember(&count, key: &key) {
      let name = String(decoding: key, as: UTF8.self)
      reader.skipSpace()
      if walked.contains(name) {
        offsets[name] = reader.position
        try reader.skipValue(depth: 1)
      } else {
        values[name] = try reader.readValue(depth: 1)
      }
    }
    return (values, offsets)
  }

  /// Each merge's left and right token as UTF-8, `"a b"` strings (tokenizers < 0.20) or `["a", "b"]` pairs, with
  /// its rank; returns the number of merges.
  @discardableResult
  private func forEachMerge(
    at offset: Int, _ body: (Int, UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) throws -> Void
  ) throws -> Int {
    var reader = JSONReader(text, at: offset)
    try reader.beginArray()
    var rank = 0
    var left: [UInt8] = []
    var right: [UInt8] = []
    while try reader.nextElement(&rank) {
      let index = rank - 1
      left.removeAll(keepingCapacity: true)
      right.removeAll(keepingCapacity: true)
      switch reader.peek() {
      case .string:
        try reader.readString(into: &left)
        let parsed = try left.withUnsafeBufferPointer { text in
          guard let (l, r) = BPETokenizer.splitMerge(text) else { return false }
          try body(index, l, r)
          return true
        }
        guard parsed else {
          throw fail(
            .invalidValue, "model.merges[\(index)]",
            "\"\(String(decoding: left, as: UTF8.self))\" is not two tokens separated by a space")
        }
      case .array:
        try reader.beginArray()
        var count = 0
        var strings = true
        while try reader.nextElement(&count) {
          if count == 1, reader.peek() == .string {
            try reader.readString(into: &left)
          } else if count == 2, reader.peek() == .string {
            try reader.readString(into: &right)
          } else {
            strings = false
            try reader.skipValue(depth: 3)
          }
        }
        guard strings, count == 2 else {
          throw fail(.invalidValue, "model.merges[\(index)]", "is neither \"a b\" nor a pair of strings")
        }
        try left.withUnsafeBufferPointer { l in try right.withUnsafeBufferPointer { r in try body(index, l, r) } }
      default:
        throw fail(.invalidValue, "model.merges[\(index)]", "is neither \"a b\" nor a pair of strings")
      }
    }
    return rank
  }

  /// `model.vocab`'s ids, each with the offset of its key string in the text.
  private func vocabularyEntries(at offset: Int) throws -> (ids: [Int32], keyOffsets: [Int]) {
    var reader = JSONReader(text, at: offset)
    try reader.beginObject()
    var ids: [Int32] = []
    var keyOffsets: [Int] = []
    var count = 0
    var key: [UInt8] = []
    while try reader.nextMember(&count, key: &key) {
      let id = reader.peek() == .number ? JSONShape.tokenID(try reader.readNumber()) : nil
      guard let id else {
        throw fail(
          .invalidValue, "model.vocab[\"\(String(decoding: key, as: UTF8.self))\"]",
          "is not a token id (a non-negative integer)")
      }
      ids.append(Int32(id))
      keyOffsets.append(reader.keyOffset)
    }
    return (ids, keyOffsets)
  }

  /// For each id, where its string is: the offset of a vocabulary key (>= 0) or `-(k + 1)` for added token k (added
  /// tokens override the vocabulary). Every id below the largest must have a string.
  private func stringOffsetsByID(_ vocab: (ids: [Int32], keyOffsets: [Int]), _ addedIDs: [Int]) throws -> [Int] {
    let provided = vocab.ids.count + addedIDs.count
    let count = max(Int(vocab.ids.max() ?? -1), addedIDs.max() ?? -1) + 1
    func missing(_ id: Int) -> TokenizerError {
      fail(.invalidValue, "model.vocab", "no token has id \(id), but ids run up to \(count - 1)")
    }
    guard count <= provided else {
      // Some id below `provided` has no string: find the first without allocating `count` entries.
      var seen = [Bool](repeating: false, count: provided + 1)
      for id in vocab.ids where Int(id) <= provided { seen[Int(id)] = true }
      for id in addedIDs where id <= provided { seen[id] = true }
      throw missing(seen.firstIndex(of: false)!)
    }
    var offsets = [Int](repeating: Int.min, count: count)
    for (id, offset) in zip(vocab.ids, vocab.keyOffsets) { offsets[Int(id)] = offset }
    for (k, id) in addedIDs.enumerated() { offsets[id] = -(k + 1) }
    if let id = offsets.firstIndex(of: Int.min) { throw missing(id) }
    return offsets
  }

  private func buildVocabulary(_ stringOffsets: [Int], _ addedContents: [String], _ special: [Bool]) throws
    -> TokenVocabulary
  {
    var builder = TokenVocabulary.Builder(capacity: stringOffsets.count)
    var utf8: [UInt8] = []
    for (id, offset) in stringOffsets.enumerated() {
      if offset >= 0 {
        utf8.removeAll(keepingCapacity: true)
        var reader = JSONReader(text, at: offset)
        try reader.readString(into: &utf8)
        try utf8.withUnsafeBufferPointer { try builder.append(utf8: $0, special: special[id], source: source) }
      } else {
        try builder.append(addedContents[-offset - 1], special: special[id], source: source)
      }
    }
    return builder.finish()
  }
}
