/// A byte-level BPE tokenizer (GPT-2 family: SmolLM2, Qwen2, Llama 3), bit-exact with Hugging Face `tokenizers`.
///
/// Text is cut at special tokens (matched verbatim, longest first), each remaining segment is split into words
/// by a `PreTokenizerKind` scanner, and each word's UTF-8 bytes are merged by rank, starting from one symbol per
/// byte. Token strings are stored GPT-2 byte-to-Unicode mapped (`Ġ` for a space); decoding maps them back.
/// Immutable after `init`, so it is shared freely across threads.
/// ref: Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units";
///      huggingface/tokenizers `models/bpe/{model,word}.rs`; llama.cpp `llama-vocab.cpp` (GGUF token types).
public final class BPETokenizer: Sendable {
  /// Every token's bytes and the index from strings to ids: `vocabulary.bytes[offsets[id]..<offsets[id + 1]]`.
  let vocabulary: TokenVocabulary
  /// Whether each id is a special (control or user-defined) token, (V).
  let specialFlags: [Bool]
  /// Token id of each single byte, -1 where the vocabulary has none (such bytes are dropped, as HF does), (256).
  let byteTokenIDs: [Int32]
  /// Merge table: `left << 32 | right` → `rank << 32 | merged id`.
  let merges: MergeTable
  /// Specials matched in text, longest first within each first byte: `specialsByFirstByte[b]` indexes `specials`.
  let specials: [SpecialToken]
  let specialsByFirstByte: [[Int32]]
  /// Whether any special starts with byte `b`, (256): the cheap test run on every input byte.
  let specialFirstBytes: [Bool]
  /// The word-splitting regex.
  let preTokenizer: PreTokenizerKind
  /// HF `ignore_merges`: a word that is itself a vocabulary entry is emitted whole (Llama 3).
  let ignoreMerges: Bool
  /// HF `normalizer: NFC` (Qwen2's tokenizer.json); applied to text outside special tokens.
  let normalizeNFC: Bool
  /// GGUF token type of each id (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), (V): the GGUF's
  /// own `tokenizer.ggml.token_type`, or for tokenizer.json 3 for special added tokens, 4 for other added tokens.
  let tokenTypes: [Int32]
  /// The tokens matched verbatim in text, in id order, with their HF flags: the export's `added_tokens`.
  let addedTokens: [SpecialToken]

  public let bosID: Int32?
  public let eosID: Int32?
  public let unknownID: Int32?
  public let paddingID: Int32?
  /// Whether callers should put `bosID` before encoded text; `encode` never adds it itself.
  public let addBOS: Bool
  /// The file this tokenizer came from, for messages.
  public let source: String

  /// A special token as matched in input text.
  struct SpecialToken: Sendable {
    var bytes: [UInt8]
    var id: Int32
    /// HF AddedToken `lstrip` / `rstrip`: absorb ASCII whitespace on that side.
    var lstrip = false
    var rstrip = false
  }

  /// From GGUF arrays. tokenTypes may be nil (all normal). Control (3) and user-defined (4) tokens are special:
  /// matched verbatim in input text when parseSpecial is true.
  ///
  /// - Parameters:
  ///   - tokens: `tokenizer.ggml.tokens`, (V), byte-level mapped except specials.
  ///   - merges: `tokenizer.ggml.merges`, `"left right"` in rank order.
  ///   - tokenTypes: `tokenizer.ggml.token_type`, (V) or nil.
  ///   - preTokenizer: from `tokenizer.ggml.pre`; `llama3` also turns on HF's `ignore_merges`.
  ///   - source: the GGUF path, for error messages.
  public convenience init(
    tokens: [String], merges: [String], tokenTypes: [Int32]?, preTokenizer: PreTokenizerKind,
    bosID: Int32?, eosID: Int32?, unknownID: Int32?, paddingID: Int32?, addBOS: Bool, source: String
  ) throws {
    if let tokenTypes, tokenTypes.count != tokens.count {
      throw TokenizerError(
        .invalidValue, source: source, location: "tokenizer.ggml.token_type",
        "has \(tokenTypes.count) entries but tokenizer.ggml.tokens has \(tokens.count)")
    }
    for (index, merge) in merges.enumerated() where Self.splitMerge(merge) == nil {
      throw TokenizerError(
        .invalidValue, source: source, location: "tokenizer.ggml.merges[\(index)]",
        "merge \"\(merge)\" is not two tokens separated by one space")
    }
    var specials: [SpecialToken] = []
    var flags = [Bool](repeating: false, count: tokens.count)
    for (id, type) in (tokenTypes ?? []).enumerated() where type == 3 || type == 4 {
      flags[id] = true
      specials.append(SpecialToken(bytes: Array(tokens[id].utf8), id: Int32(id)))
    }
    var builder = TokenVocabulary.Builder(capacity: tokens.count)
    for (id, token) in tokens.enumerated() { try builder.append(token, special: flags[id], source: source) }
    let vocabulary = builder.finish()
    try Self.checkVocabulary(
      vocabulary.count, [("bos", bosID), ("eos", eosID), ("unknown", unknownID), ("padding", paddingID)], source)
    var table = MergeTable.Builder(capacity: merges.count)
    for (rank, merge) in merges.enumerated() {
      var text = merge
      try text.withUTF8 { utf8 in
        let (left, right) = Self.splitMerge(utf8)!
        try Self.addMerge(&table, left, right, vocabulary, "tokenizer.ggml.merges", rank, source)
      }
    }
    self.init(
      vocabulary: vocabulary, merges: table.finish(), special: flags, matchable: specials,
      preTokenizer: preTokenizer, ignoreMerges: preTokenizer == .llama3, normalizeNFC: false, bosID: bosID,
      eosID: eosID, unknownID: unknownID, paddingID: paddingID, addBOS: addBOS, source: source,
      tokenTypes: tokenTypes)
  }

  /// The designated initializer both front ends (GGUF arrays, tokenizer.json) reduce to, once they have checked
  /// the vocabulary (`checkVocabulary`) and resolved the merges (`addMerge`).
  init(
    vocabulary: TokenVocabulary, merges: MergeTable, special: [Bool], matchable: [SpecialToken],
    preTokenizer: PreTokenizerKind, ignoreMerges: Bool, normalizeNFC: Bool, bosID: Int32?, eosID: Int32?,
    unknownID: Int32?, paddingID: Int32?, addBOS: Bool, source: String, tokenTypes: [Int32]? = nil
  ) {
    var byteIDs = [Int32](repeating: -1, count: 256)
    for id in 0..<vocabulary.count where !vocabulary.rawText[id] {
      let lower = Int(vocabulary.offsets[id])
      if vocabulary.offsets[id + 1] - vocabulary.offsets[id] == 1, byteIDs[Int(vocabulary.bytes[lower])] < 0 {
        byteIDs[Int(vocabulary.bytes[lower])] = Int32(id)
      }
    }
    let ordered = matchable.filter { !$0.bytes.isEmpty }.sorted { $0.bytes.count > $1.bytes.count }
    var byFirst = [[Int32]](repeating: [], count: 256)
    for (index, token) in ordered.enumerated() { byFirst[Int(token.bytes[0])].append(Int32(index)) }

    self.vocabulary = vocabulary
    self.specialFlags = special
    self.byteTokenIDs = byteIDs
    self.merges = merges
    self.specials = ordered
    self.specialsByFirstByte = byFirst
    self.specialFirstBytes = byFirst.map { !$0.isEmpty }
    self.preTokenizer = preTokenizer
    self.ignoreMerges = ignoreMerges
    self.normalizeNFC = normalizeNFC
    let matchedIDs = Set(matchable.map(\.id))
    self.tokenTypes =
      tokenTypes
      ?? (0..<vocabulary.count).map { id in special[id] ? 3 : matchedIDs.contains(Int32(id)) ? 4 : 1 }
    self.addedTokens = matchable.sorted { $0.id < $1.id }
    self.bosID = bosID
    self.eosID = eosID
    self.unknownID = unknownID
    self.paddingID = paddingID
    self.addBOS = addBOS
    self.source = source
  }

  /// Refuses an empty or oversized vocabulary and special ids outside it.
  static func checkVocabulary(_ count: Int, _ ids: [(String, Int32?)], _ source: String) throws {
    guard count > 0, count < Int(Int32.max) else {
      throw TokenizerError(.invalidValue, source: source, location: "vocabulary", "has \(count) tokens")
    }
    for (name, id) in ids {
      if let id, id < 0 || Int(id) >= count {
        throw TokenizerError(
          .idOutOfRange, source: source, location: "\(name) token id",
          "\(id) is outside the vocabulary of \(count) tokens")
      }
    }
  }

  /// `"left right"` split at its first space, nil unless both sides are non-empty.
  static func splitMerge(_ utf8: UnsafeBufferPointer<UInt8>) -> (
    UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>
  )? {
    guard let space = utf8.firstIndex(of: 0x20), space > 0, space + 1 < utf8.count else { return nil }
    return (UnsafeBufferPointer(rebasing: utf8[..<space]), UnsafeBufferPointer(rebasing: utf8[(space + 1)...]))
  }

  static func splitMerge(_ merge: String) -> (String, String)? {
    var text = merge
    return text.withUTF8 { utf8 in
      splitMerge(utf8).map { (String(decoding: $0.0, as: UTF8.self), String(decoding: $0.1, as: UTF8.self)) }
    }
  }

  /// Adds rule `rank` (the strings' UTF-8), naming the token that is not in the vocabulary when one is missing.
  static func addMerge(
    _ table: inout MergeTable.Builder, _ left: UnsafeBufferPointer<UInt8>, _ right: UnsafeBufferPointer<UInt8>,
    _ vocabulary: TokenVocabulary, _ location: String, _ rank: Int, _ source: String
  ) throws {
    let l = vocabulary.id(ofUTF8: left)
    let r = vocabulary.id(ofUTF8: right)
    let merged = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: left.count + right.count) { joined in
      _ = joined.initialize(fromContentsOf: left)
      _ = UnsafeMutableBufferPointer(rebasing: joined[left.count...]).initialize(fromContentsOf: right)
      return vocabulary.id(ofUTF8: UnsafeBufferPointer(joined))
    }
    guard let l, let r, let merged else {
      let leftText = String(decoding: left, as: UTF8.self)
      let rightText = String(decoding: right, as: UTF8.self)
      let message =
        l == nil || r == nil
        ? "names \"\(l == nil ? leftText : rightText)\", which is not in the vocabulary"
        : "yields \"\(leftText + rightText)\", which is not in the vocabulary"
      throw TokenizerError(
        .unknownToken, source: source, location: "\(location)[\(rank)]", "merge \"\(leftText) \(rightText)\" " + message
      )
    }
    table.add(left: l, right: r, merged: merged)
  }

  /// Number of token ids (the embedding table's row count).
  public var vocabularySize: Int { vocabulary.count }

  /// The id of a token string exactly as the vocabulary stores it (`"<|im_end|>"`, `"Ġthe"`); the first id when the
  /// string repeats. Strings compare byte for byte, as in HF `tokenizers`.
  public func id(of token: String) -> Int32? { vocabulary.id(of: token) }

  /// The vocabulary string of an id, nil when out of range.
  public func token(of id: Int32) -> String? {
    id >= 0 && Int(id) < vocabulary.count ? vocabulary.tokenString(id) : nil
  }

  /// Bytes of the tables the tokenizer keeps (array payloads; ~44 B per entry for SmolLM2's 49,152), for plans and
  /// the memory test.
  var tableBytes: Int {
    vocabulary.bytes.count + vocabulary.offsets.count * 4 + vocabulary.rawText.count + vocabulary.slots.count * 4
      + merges.slots.count * 8 + specialFlags.count + tokenTypes.count * 4 + byteTokenIDs.count * 4
      + specials.reduce(0) { $0 + $1.bytes.count + 16 } * 2
  }

  /// Every token string in id order (export and tests; built on demand, the tokenizer keeps bytes only).
  var tokens: [String] { (0..<vocabulary.count).map { vocabulary.tokenString(Int32($0)) } }

  /// The merge rules in rank order, read back from the merge table (export and tests).
  var mergeRules: [(left: String, right: String)] {
    merges.rulesByRank().map { (vocabulary.tokenString($0.left), vocabulary.tokenString($0.right)) }
  }

  /// Whether an id is a control or user-defined token (those `encode` matches verbatim).
  public func isSpecial(_ id: Int32) -> Bool {
    id >= 0 && Int(id) < specialFlags.count && specialFlags[Int(id)]
  }
}
