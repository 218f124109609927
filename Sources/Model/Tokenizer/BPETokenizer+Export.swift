public import Formats

extension BPETokenizer {
  /// The tokenizer as a Hugging Face tokenizer.json, in the shapes `tokenizers` writes, so that both
  /// `BPETokenizer(tokenizerJSON:source:)` and the Python `tokenizers` library load it and encode identically:
  /// - `model`: BPE with `vocab` (every id, specials included, in id order) and `merges` as `["a", "b"]` pairs in
  ///   rank order; `ignore_merges` as loaded (true for Llama 3); `unk_token` only when every byte has a token
  ///   (otherwise HF would emit it where this tokenizer drops the byte);
  /// - `added_tokens`: the tokens matched verbatim in text, `special` from `isSpecial`, `normalized: false`;
  /// - `normalizer`: `NFC` when this tokenizer normalizes (Qwen2's tokenizer.json), else null;
  /// - `pre_tokenizer` per `PreTokenizerKind` (see `preTokenizerJSON`), `decoder` ByteLevel;
  /// - `post_processor`: ByteLevel, followed by a `TemplateProcessing` that prepends BOS when `addBOS`.
  ///
  /// EOS and padding ids have no place in tokenizer.json (HF keeps them in tokenizer_config.json) and are not
  /// written. Throws when a token string repeats (a JSON vocabulary maps each string to one id).
  /// ref: huggingface/tokenizers `tokenizer/serialization.rs`, `models/bpe/serialization.rs`.
  public func tokenizerJSON() throws -> [UInt8] {
    if let duplicate = vocabulary.firstRepeatedID() {
      throw TokenizerError(
        .unsupported, source: source, location: "vocabulary",
        "token \"\(vocabulary.tokenString(Int32(duplicate)))\" (id \(duplicate)) repeats an earlier token; "
          + "a tokenizer.json vocabulary cannot hold the same string twice")
    }
    let tokens = self.tokens
    let mergeRules = self.mergeRules
    var json = ""
    json.reserveCapacity(vocabulary.bytes.count * 3 + mergeRules.count * 24 + 4096)
    json += "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":["
    for (index, token) in addedTokens.enumerated() {
      if index > 0 { json += "," }
      json += "{\"id\":\(token.id),\"content\":" + Self.quoted(tokens[Int(token.id)])
      json += ",\"single_word\":false,\"lstrip\":\(token.lstrip),\"rstrip\":\(token.rstrip),\"normalized\":false"
      json += ",\"special\":\(isSpecial(token.id))}"
    }
    json += "],\"normalizer\":" + (normalizeNFC ? "{\"type\":\"NFC\"}" : "null")
    json += ",\"pre_tokenizer\":" + Self.preTokenizerJSON(preTokenizer)
    json += ",\"post_processor\":" + postProcessorJSON()
    json += ",\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}"
    let unknown = unknownID.flatMap { id in byteTokenIDs.allSatisfy { $0 >= 0 } ? Self.quoted(tokens[Int(id)]) : nil }
    json += ",\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\(unknown ?? "null")"
    json += ",\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":false"
    json += ",\"byte_fallback\":false,\"ignore_merges\":\(ignoreMerges),\"vocab\":{"
    for (id, token) in tokens.enumerated() {
      if id > 0 { json += "," }
      json += Self.quoted(token) + ":\(id)"
    }
    json += "},\"merges\":["
    for (rank, rule) in mergeRules.enumerated() {
      if rank > 0 { json += "," }
      json += "[" + Self.quoted(rule.left) + "," + Self.quoted(rule.right) + "]"
    }
    json += "]}}"
    return Array(json.utf8)
  }

  /// The `tokenizer.ggml.*` metadata llama.cpp reads for a byte-level BPE vocabulary, in the order it writes it:
  /// model `gpt2`, `pre` (`gpt2`, `smollm`, `qwen2`, `llama-bpe`), tokens, token types, merges as `"a b"`,
  /// the special ids that are set (u32), and `add_bos_token`. Loading it back through GGUF gives the same encoding,
  /// except that GGUF has no normalizer: a tokenizer.json's NFC step is not kept (llama.cpp does not apply one).
  public func ggufMetadata() -> [(String, GGUFValue)] {
    let pre =
      switch preTokenizer {
      case .gpt2: "gpt2"
      case .smollm: "smollm"
      case .qwen2: "qwen2"
      case .llama3: "llama-bpe"
      }
    let mergeRules = self.mergeRules
    var metadata: [(String, GGUFValue)] = [
      ("tokenizer.ggml.model", .string("gpt2")),
      ("tokenizer.ggml.pre", .string(pre)),
      ("tokenizer.ggml.tokens", .array(tokens.map { .string($0) })),
      ("tokenizer.ggml.token_type", .array(tokenTypes.map { .int32($0) })),
      ("tokenizer.ggml.merges", .array(mergeRules.map { .string($0.left + " " + $0.right) })),
    ]
    let ids: [(String, Int32?)] = [
      ("bos", bosID), ("eos", eosID), ("unknown", unknownID), ("padding", paddingID),
    ]
    for case (let name, let id?) in ids {
      metadata.append(("tokenizer.ggml.\(name)_token_id", .uint32(UInt32(id))))
    }
    metadata.append(("tokenizer.ggml.add_bos_token", .bool(addBOS)))
    return metadata
  }

  /// HF's serialization of each pre-tokenizer kind: GPT-2 `ByteLevel`, SmolLM2 `Sequence[Digits, ByteLevel]`,
  /// Qwen2 / Llama 3 `Sequence[Split(regex, Isolated), ByteLevel(use_regex: false)]`.
  static func preTokenizerJSON(_ kind: PreTokenizerKind) -> String {
    let byteLevel = { (regex: Bool) in
      "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":\(regex),\"use_regex\":\(regex)}"
    }
    switch kind {
    case .gpt2:
      return byteLevel(true)
    case .smollm:
      return "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true},"
        + byteLevel(true) + "]}"
    case .qwen2, .llama3:
      let pattern = kind == .qwen2 ? JSONShape.qwen2Pattern : JSONShape.llama3Pattern
      return "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
        + quoted(pattern) + "},\"behavior\":\"Isolated\",\"invert\":false}," + byteLevel(false) + "]}"
    }
  }

  /// ByteLevel (offsets only), then, when `addBOS`, Llama 3's `TemplateProcessing` putting BOS before each sequence.
  func postProcessorJSON() -> String {
    let byteLevel = "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false,\"use_regex\":true}"
    guard addBOS, let bosID else { return byteLevel }
    let bos = Self.quoted(vocabulary.tokenString(bosID))
    func special(_ typeID: Int) -> String { "{\"SpecialToken\":{\"id\":\(bos),\"type_id\":\(typeID)}}" }
    func sequence(_ name: String, _ typeID: Int) -> String {
      "{\"Sequence\":{\"id\":\"\(name)\",\"type_id\":\(typeID)}}"
    }
    let template =
      "{\"type\":\"TemplateProcessing\",\"single\":[\(special(0)),\(sequence("A", 0))],\"pair\":[\(special(0)),"
      + "\(sequence("A", 0)),\(special(1)),\(sequence("B", 1))],\"special_tokens\":{\(bos):{\"id\":\(bos),"
      + "\"ids\":[\(bosID)],\"tokens\":[\(bos)]}}}"
    return "{\"type\":\"Sequence\",\"processors\":[\(byteLevel),\(template)]}"
  }

  /// A JSON string literal (Formats' `JSONText`).
  static func quoted(_ s: String) -> String { JSONText.quoted(s) }
}
