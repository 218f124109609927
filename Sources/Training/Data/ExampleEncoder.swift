public import Model

/// How records become examples, and how loading treats bad lines.
public struct DataOptions: Sendable, Equatable, Codable {
  /// Keep at most this many tokens of each example (the start is kept; see `TrainingExample.truncate`); nil keeps
  /// everything. At least 2, so a truncated example can still have a target.
  public var seqLen: Int?
  /// Append the model's EOS after `text` and plain prompt–completion examples (unless the text already ends with
  /// it), trained on, so the model learns to stop; TRL does the same for completion examples. Chat-template
  /// renderings end with the template's end-of-turn token instead and get nothing appended.
  public var appendEOS: Bool
  /// Train on every token, prompts and template headers included, instead of only the completion or the
  /// assistant turns.
  public var trainOnPrompt: Bool
  /// Skip (and count) lines that are not valid records instead of failing on the first one.
  public var skipBadLines: Bool
  /// A soft prompt's length: every example starts with the virtual token ids −1 … −N (never trained on, counted
  /// in `seqLen`), as PEFT's prompt tuning puts the prompt before every input.
  public var virtualTokens: Int
  /// Plain {"prompt", "completion"} string pairs as raw text, prompt + completion (TRL's convention for
  /// non-conversational data), instead of through the model's chat template as a user turn and an assistant turn
  /// (the default when the model has a template: it is how the user will talk to the result).
  public var rawPairs: Bool

  public init(
    seqLen: Int? = nil, appendEOS: Bool = true, trainOnPrompt: Bool = false, skipBadLines: Bool = false,
    virtualTokens: Int = 0, rawPairs: Bool = false
  ) {
    self.virtualTokens = virtualTokens
    self.rawPairs = rawPairs
    self.seqLen = seqLen
    self.appendEOS = appendEOS
    self.trainOnPrompt = trainOnPrompt
    self.skipBadLines = skipBadLines
  }
}

/// Turns a `DataRecord` into token ids and a loss mask with a model's tokenizer and chat template.
///
/// Masks follow the exact token boundaries of the full rendering. Each trained span is given as a prefix of the
/// rendered text: where it starts (the prompt; the conversation so far plus the assistant header from
/// `render(…, addGenerationPrompt: true)`) and where it ends (the conversation through that turn, cut just after
/// the template's end-of-turn text, so `<|im_end|>` is trained but the newline ChatML puts after it is not).
/// Each prefix is tokenized on its own and its decoded byte length is matched against the full tokenization:
/// when BPE splits the full text at the same place (the usual case: headers end with a special token or a
/// newline) the boundary is exactly the prefix's token count; when a token straddles the boundary (a merge
/// across it), that token counts as trained, since it carries bytes of the trained span. A token is trained iff
/// its bytes overlap a trained span. This is what Hugging Face's `return_assistant_tokens_mask` computes from
/// character offsets, here without needing an offset mapping.
/// ref: TRL `SFTTrainer` (`completion_only_loss`, `assistant_only_loss`); transformers `apply_chat_template`.
public struct ExampleEncoder: Sendable {
  public let tokenizer: BPETokenizer
  public let chatTemplate: ChatTemplate
  public let eosID: Int32?
  public var options: DataOptions
  /// Decoded byte length of every token id, (V): token boundaries in the decoded text without a decode per token.
  private let tokenLengths: [Int32]

  public init(tokenizer: BPETokenizer, chatTemplate: ChatTemplate, eosID: Int32?, options: DataOptions = .init()) {
    self.tokenizer = tokenizer
    self.chatTemplate = chatTemplate
    self.eosID = eosID
    self.options = options
    self.tokenLengths = (0..<Int32(tokenizer.vocabularySize)).map { Int32(tokenizer.decodeBytes([$0]).count) }
  }

  public init(model: LanguageModel, options: DataOptions = .init()) {
    self.init(tokenizer: model.tokenizer, chatTemplate: model.chatTemplate, eosID: model.eosID, options: options)
  }

  /// The example for `record`, before truncation (the dataset truncates and counts), after the virtual tokens of a
  /// soft prompt when `options.virtualTokens` is above 0.
  public func encode(_ record: DataRecord) throws(DataRecordError) -> TrainingExample {
    let example = try encodeRecord(record)
    guard options.virtualTokens > 0 else { return example }
    return TrainingExample(
      tokens: VirtualToken.prefix(options.virtualTokens) + example.tokens,
      lossMask: [Bool](repeating: false, count: options.virtualTokens) + example.lossMask)
  }

  /// How plain prompt/completion pairs are rendered for this model and these options.
  public var pairRendering: PairRendering { PairRendering(template: chatTemplate, raw: options.rawPairs) }

  private func encodeRecord(_ record: DataRecord) throws(DataRecordError) -> TrainingExample {
    switch pairRendering.apply(to: record) {
    case .text(let text):
      return finish(text: text, spans: [0..<text.utf8.count], appendEOS: options.appendEOS)
    case .promptCompletion(let prompt, let completion):
      let text = prompt + completion
      let start = options.trainOnPrompt ? 0 : prompt.utf8.count
      return finish(text: text, spans: [start..<text.utf8.count], appendEOS: options.appendEOS)
    case .conversationalPromptCompletion(let prompt, let completion):
      let text = chatTemplate.render(prompt + completion, addGenerationPrompt: false)
      if options.trainOnPrompt { return finish(text: text, spans: [0..<text.utf8.count], appendEOS: false) }
      let opening = chatTemplate.render(prompt, addGenerationPrompt: true)
      guard text.utf8.starts(with: opening.utf8) else {
        throw DataRecordError(
          "the chat template does not render the prompt as a prefix of the whole conversation, so the completion "
            + "cannot be located")
      }
      let start = opening.utf8.count
      let end = endOfTurnEnd(in: text, after: start) ?? text.utf8.count
      return finish(text: text, spans: [start..<end], appendEOS: false)
    case .messages(let messages):
      let text = chatTemplate.render(messages, addGenerationPrompt: false)
      if options.trainOnPrompt { return finish(text: text, spans: [0..<text.utf8.count], appendEOS: false) }
      var spans: [Range<Int>] = []
      for (index, message) in messages.enumerated() where message.role == "assistant" {
        let opening = chatTemplate.render(Array(messages[..<index]), addGenerationPrompt: true)
        let through = chatTemplate.render(Array(messages[...index]), addGenerationPrompt: false)
        guard through.utf8.starts(with: opening.utf8), text.utf8.starts(with: through.utf8) else {
          throw DataRecordError(
            "the chat template does not render this conversation incrementally at messages[\(index)] (an "
              + "assistant turn first, before any user turn?), so its tokens cannot be located")
        }
        let start = opening.utf8.count
        let end = endOfTurnEnd(in: through, after: start) ?? through.utf8.count
        spans.append(start..<end)
      }
      return finish(text: text, spans: spans, appendEOS: false)
    }
  }

  /// UTF-8 offset just past the last end-of-turn text at or after `offset` in `text`, if any.
  func endOfTurnEnd(in text: String, after offset: Int) -> Int? {
    let marker = Array(chatTemplate.endOfTurn.utf8)
    let bytes = Array(text.utf8)
    guard bytes.count >= marker.count else { return nil }
    var start = bytes.count - marker.count
    while start >= offset {
      if bytes[start..<(start + marker.count)].elementsEqual(marker) { return start + marker.count }
      start -= 1
    }
    return nil
  }

  /// Tokenizes `text` (BOS first when the tokenizer asks for it) and marks the tokens overlapping `spans`, given
  /// as UTF-8 offsets into `text` that fall on character boundaries; EOS is appended (and trained) on request.
  func finish(text: String, spans: [Range<Int>], appendEOS: Bool) -> TrainingExample {
    let ids = tokenizer.encode(text)
    // ends[j]: decoded byte offset just past token j of the full tokenization.
    var ends: [Int] = []
    ends.reserveCapacity(ids.count)
    var position = 0
    for id in ids {
      position += Int(tokenLengths[Int(id)])
      ends.append(position)
    }
    let fullBytes = tokenizer.decodeBytes(ids)
    var mask = [Bool](repeating: false, count: ids.count)
    for span in spans where !span.isEmpty {
      let lower = decodedLength(ofPrefix: span.lowerBound, of: text, full: fullBytes)
      let upper = decodedLength(ofPrefix: span.upperBound, of: text, full: fullBytes)
      guard upper > lower else { continue }
      // Token j covers decoded bytes [ends[j-1], ends[j]): trained when that overlaps [lower, upper).
      var j = firstIndex(in: ends, greaterThan: lower)
      while j < ids.count && (j == 0 ? 0 : ends[j - 1]) < upper {
        mask[j] = true
        j += 1
      }
    }
    var tokens = ids
    if tokenizer.addBOS, let bos = tokenizer.bosID {
      tokens.insert(bos, at: 0)
      mask.insert(options.trainOnPrompt, at: 0)
    }
    if appendEOS, let eos = eosID, tokens.last != eos {
      tokens.append(eos)
      mask.append(true)
    }
    return TrainingExample(tokens: tokens, lossMask: mask)
  }

  /// Length, in the full tokenization's decoded bytes, of the text's first `utf8Count` bytes: the prefix is
  /// tokenized on its own and decoded, and the part of that which agrees with the full decoding is kept (they
  /// differ only where a special token's lstrip absorbed whitespace the prefix still has).
  func decodedLength(ofPrefix utf8Count: Int, of text: String, full: [UInt8]) -> Int {
    if utf8Count == 0 { return 0 }
    if utf8Count >= text.utf8.count { return full.count }
    let prefix = String(decoding: text.utf8.prefix(utf8Count), as: UTF8.self)
    let decoded = tokenizer.decodeBytes(tokenizer.encode(prefix))
    var length = 0
    while length < decoded.count && length < full.count && decoded[length] == full[length] { length += 1 }
    return length
  }

  /// The first index whose value is greater than `value` in an ascending array (its count when none is).
  func firstIndex(in sorted: [Int], greaterThan value: Int) -> Int {
    var lo = 0
    var hi = sorted.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if sorted[mid] > value { hi = mid } else { lo = mid + 1 }
    }
    return lo
  }
}
