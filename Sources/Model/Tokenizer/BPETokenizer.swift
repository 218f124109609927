/// A byte-level BPE tokenizer (GPT-2 family: SmolLM2, Qwen2, Llama 3), bit-exact with Hugging Face `tokenizers`.
///
/// Text is cut at special tokens (matched verbatim, longest first), each remaining segment is split into words
/// by a `PreTokenizerKind` scanner, and each word's UTF-8 bytes are merged by rank, starting from one symbol per
/// byte. Token strings are stored GPT-2 byte-to-Unicode mapped (`Ġ` for a space); decoding maps them back.
/// Immutable after `init`, so it is shared freely across threads.
/// ref: Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units";
///      huggingface/tokenizers `models/bpe/{model,word}.rs`; llama.cpp `llama-vocab.cpp` (GGUF token types).
public final class BPETokenizer: Sendable {
  /// Token strings as stored (byte-level mapped, specials raw), indexed by id.
  let tokens: [String]
  /// Token string → id (the first id when a string repeats).
  let idsByToken: [String: Int32]
  /// Concatenated bytes of every token, and `tokenOffsets[id]..<tokenOffsets[id + 1]` into it, (V + 1).
  let tokenBytes: [UInt8]
  let tokenOffsets: [Int32]
  /// Whether each id is a special (control or user-defined) token, (V).
  let specialFlags: [Bool]
  /// Token id of each single byte, -1 where the vocabulary has none (such bytes are dropped, as HF does), (256).
  let byteTokenIDs: [Int32]
  /// Merge table: `left << 32 | right` → `rank << 32 | merged id`.
  let merges: [UInt64: UInt64]
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
  /// The merge rules in rank order, as loaded: kept so the tokenizer can be exported (`tokenizerJSON()`).
  let mergeRules: [(left: String, right: String)]
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
    var pairs: [(String, String)] = []
    pairs.reserveCapacity(merges.count)
    for (index, merge) in merges.enumerated() {
      let parts = merge.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw TokenizerError(
          .invalidValue, source: source, location: "tokenizer.ggml.merges[\(index)]",
          "merge \"\(merge)\" is not two tokens separated by one space")
      }
      pairs.append((String(parts[0]), String(parts[1])))
    }
    var specials: [SpecialToken] = []
    var flags = [Bool](repeating: false, count: tokens.count)
    for (id, type) in (tokenTypes ?? []).enumerated() where type == 3 || type == 4 {
      flags[id] = true
      specials.append(SpecialToken(bytes: Array(tokens[id].utf8), id: Int32(id)))
    }
    try self.init(
      tokens: tokens, mergePairs: pairs, mergeLocation: "tokenizer.ggml.merges", special: flags,
      matchable: specials, preTokenizer: preTokenizer, ignoreMerges: preTokenizer == .llama3,
      normalizeNFC: false, bosID: bosID, eosID: eosID, unknownID: unknownID, paddingID: paddingID,
      addBOS: addBOS, source: source, tokenTypes: tokenTypes)
  }

  /// The designated initializer both front ends (GGUF arrays, tokenizer.json) reduce to.
  init(
    tokens: [String], mergePairs: [(String, String)], mergeLocation: String, special: [Bool],
    matchable: [SpecialToken], preTokenizer: PreTokenizerKind, ignoreMerges: Bool, normalizeNFC: Bool,
    bosID: Int32?, eosID: Int32?, unknownID: Int32?, paddingID: Int32?, addBOS: Bool, source: String,
    tokenTypes: [Int32]? = nil
  ) throws {
    guard !tokens.isEmpty, tokens.count < Int(Int32.max) else {
      throw TokenizerError(.invalidValue, source: source, location: "vocabulary", "has \(tokens.count) tokens")
    }
    for (name, id) in [("bos", bosID), ("eos", eosID), ("unknown", unknownID), ("padding", paddingID)] {
      if let id, id < 0 || Int(id) >= tokens.count {
        throw TokenizerError(
          .idOutOfRange, source: source, location: "\(name) token id",
          "\(id) is outside the vocabulary of \(tokens.count) tokens")
      }
    }
    var ids: [String: Int32] = [:]
    ids.reserveCapacity(tokens.count)
    var bytes: [UInt8] = []
    var offsets: [Int32] = [0]
    offsets.reserveCapacity(tokens.count + 1)
    var byteIDs = [Int32](repeating: -1, count: 256)
    for (id, token) in tokens.enumerated() {
      if ids[token] == nil { ids[token] = Int32(id) }
      // Specials are raw text; others byte-level mapped, raw if unmappable (HF ByteLevel decoder does so).
      let raw = special[id] ? Array(token.utf8) : (ByteLevel.decode(token) ?? Array(token.utf8))
      bytes.append(contentsOf: raw)
      offsets.append(Int32(bytes.count))
      if !special[id], raw.count == 1, byteIDs[Int(raw[0])] < 0, ByteLevel.decode(token) != nil {
        byteIDs[Int(raw[0])] = Int32(id)
      }
    }
    var table: [UInt64: UInt64] = [:]
    table.reserveCapacity(mergePairs.count)
    for (rank, (left, right)) in mergePairs.enumerated() {
      guard let l = ids[left], let r = ids[right] else {
        throw TokenizerError(
          .unknownToken, source: source, location: "\(mergeLocation)[\(rank)]",
          "merge \"\(left) \(right)\" names \"\(ids[left] == nil ? left : right)\", which is not in the vocabulary")
      }
      guard let merged = ids[left + right] else {
        throw TokenizerError(
          .unknownToken, source: source, location: "\(mergeLocation)[\(rank)]",
          "merge \"\(left) \(right)\" yields \"\(left + right)\", which is not in the vocabulary")
      }
      let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
      if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(UInt32(merged)) }
    }
    let ordered = matchable.filter { !$0.bytes.isEmpty }.sorted { $0.bytes.count > $1.bytes.count }
    var byFirst = [[Int32]](repeating: [], count: 256)
    for (index, token) in ordered.enumerated() { byFirst[Int(token.bytes[0])].append(Int32(index)) }

    self.tokens = tokens
    self.idsByToken = ids
    self.tokenBytes = bytes
    self.tokenOffsets = offsets
    self.specialFlags = special
    self.byteTokenIDs = byteIDs
    self.merges = table
    self.specials = ordered
    self.specialsByFirstByte = byFirst
    self.specialFirstBytes = byFirst.map { !$0.isEmpty }
    self.preTokenizer = preTokenizer
    self.ignoreMerges = ignoreMerges
    self.normalizeNFC = normalizeNFC
    self.mergeRules = mergePairs.map { (left: $0.0, right: $0.1) }
    let matchedIDs = Set(matchable.map(\.id))
    self.tokenTypes =
      tokenTypes
      ?? (0..<tokens.count).map { id in special[id] ? 3 : matchedIDs.contains(Int32(id)) ? 4 : 1 }
    self.addedTokens = matchable.sorted { $0.id < $1.id }
    self.bosID = bosID
    self.eosID = eosID
    self.unknownID = unknownID
    self.paddingID = paddingID
    self.addBOS = addBOS
    self.source = source
  }

  /// Number of token ids (the embedding table's row count).
  public var vocabularySize: Int { tokens.count }

  /// The id of a token string exactly as the vocabulary stores it (`"<|im_end|>"`, `"Ġthe"`).
  public func id(of token: String) -> Int32? { idsByToken[token] }

  /// The vocabulary string of an id, nil when out of range.
  public func token(of id: Int32) -> String? {
    id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : nil
  }

  /// Whether an id is a control or user-defined token (those `encode` matches verbatim).
  public func isSpecial(_ id: Int32) -> Bool {
    id >= 0 && Int(id) < specialFlags.count && specialFlags[Int(id)]
  }
}
