/// One encoded preference pair: both sides tokenized and masked as SFT examples (loss on the completion), and the
/// 1-based line they came from, so pairs of one ranked line can be kept together.
public struct PreferencePair: Sendable, Equatable {
  public var chosen: TrainingExample
  public var rejected: TrainingExample
  public var line: Int

  public init(chosen: TrainingExample, rejected: TrainingExample, line: Int) {
    self.chosen = chosen
    self.rejected = rejected
    self.line = line
  }
}

/// What loading a preference file found: how many lines became pairs, and what was skipped, cut or dropped.
public struct PreferenceLoadReport: Sendable, Equatable, Codable {
  /// Non-blank lines read.
  public var records = 0
  /// Pairs kept (a ranked line of n completions gives up to n(n-1)/2).
  public var pairs = 0
  /// Lines holding only whitespace, skipped silently.
  public var blankLines = 0
  /// Bad lines skipped under `skipBadLines`, and the first `DataLoadReport.maxSkippedKept` of them.
  public var skippedLines = 0
  public var skipped: [DataLoadReport.SkippedLine] = []
  /// Pairs with either side cut to `seqLen` tokens (dropped ones included).
  public var truncated = 0
  /// Pairs dropped because a side has no trained token after truncation: its log-probability would be that of
  /// nothing, and the comparison meaningless.
  public var droppedWithoutTargets = 0
  /// Pairs dropped because truncation cut both sides to the same tokens: they would compare a sequence to itself.
  public var droppedIdenticalAfterTruncation = 0
  /// Tokens of the kept pairs, both sides.
  public var tokens = 0
  /// Longest single side before truncation, in tokens.
  public var longest = 0

  public init() {}

  /// One line for a log: "120 pairs from 100 records (81234 tokens); 2 bad lines skipped (first: …); 3 truncated".
  public var summary: String {
    var parts = [
      "\(pairs) pair\(pairs == 1 ? "" : "s") from \(records) record\(records == 1 ? "" : "s") (\(tokens) tokens)"
    ]
    if let first = skipped.first {
      parts.append(
        "\(skippedLines) bad line\(skippedLines == 1 ? "" : "s") skipped (first: line \(first.line): \(first.reason))")
    }
    if truncated > 0 { parts.append("\(truncated) truncated") }
    if droppedWithoutTargets > 0 { parts.append("\(droppedWithoutTargets) dropped without trained tokens") }
    if droppedIdenticalAfterTruncation > 0 {
      parts.append("\(droppedIdenticalAfterTruncation) dropped as identical after truncation")
    }
    return parts.joined(separator: "; ")
  }
}

/// The chosen/rejected pairs of one preference JSONL file (`PreferenceRecord`), for reward-model and DPO training.
///
/// Each side goes through the SFT `ExampleEncoder`, so chat rendering, the loss mask on the completion and
/// truncation are those of SFT: a DPO or reward loss reads the completion's log-probabilities through the same
/// mask. Line numbers in errors are 1-based and count every line, blank ones included.
public struct PreferenceDataset: Sendable {
  /// The file the pairs came from (for messages).
  public let path: String
  public private(set) var pairs: [PreferencePair]
  public private(set) var report: PreferenceLoadReport

  /// An in-memory dataset (tests, generated data); `path` only names it.
  public init(path: String, pairs: [PreferencePair]) {
    self.path = path
    self.pairs = pairs
    var report = PreferenceLoadReport()
    report.records = Set(pairs.map(\.line)).count
    report.pairs = pairs.count
    report.tokens = pairs.reduce(0) { $0 + $1.chosen.count + $1.rejected.count }
    report.longest = pairs.reduce(0) { max($0, $1.chosen.count, $1.rejected.count) }
    self.report = report
  }

  public var count: Int { pairs.count }
  public var isEmpty: Bool { pairs.isEmpty }

  public subscript(index: Int) -> PreferencePair { pairs[index] }

  /// Reads and encodes every line: each side through `encoder` (so chat rendering, loss masks on the completion,
  /// and truncation to `encoder.options.seqLen` are the SFT ones).
  ///
  /// Bad lines (invalid UTF-8 or JSON, no preference shape, wrong types, empty or identical sides, or a side the
  /// encoder rejects) throw `TrainingError.badLine` with file and line number, as `JSONLDataset.load` does, or are
  /// skipped and counted under `encoder.options.skipBadLines`. A pair with a side left without trained tokens
  /// after truncation, or with both sides cut to the same tokens, is dropped and counted, not an error. A missing
  /// or unreadable file throws `.unreadableFile`; a file with no usable pair throws `.emptyDataset`.
  public static func load(path: String, encoder: ExampleEncoder) throws(TrainingError) -> PreferenceDataset {
    let options = encoder.options
    if let seqLen = options.seqLen, seqLen < 2 {
      throw .invalidOption(name: "seqLen", reason: "must be at least 2 tokens, not \(seqLen)")
    }
    var report = PreferenceLoadReport()
    var pairs: [PreferencePair] = []
    let counts = try LineReader.forEachRecord(
      path: path, skipBadLines: options.skipBadLines,
      parse: { bytes throws(DataRecordError) in try encode(PreferenceRecord.pairs(jsonLine: bytes), encoder: encoder) },
      body: { encoded, line in
        for pair in encoded {
          var chosen = pair.chosen
          var rejected = pair.rejected
          report.longest = max(report.longest, chosen.count, rejected.count)
          if let seqLen = options.seqLen {
            let cutChosen = chosen.truncate(to: seqLen)
            let cutRejected = rejected.truncate(to: seqLen)
            if cutChosen || cutRejected { report.truncated += 1 }
          }
          guard chosen.targetCount > 0 && rejected.targetCount > 0 else {
            report.droppedWithoutTargets += 1
            continue
          }
          guard chosen.tokens != rejected.tokens else {
            report.droppedIdenticalAfterTruncation += 1
            continue
          }
          pairs.append(PreferencePair(chosen: chosen, rejected: rejected, line: line))
          report.tokens += chosen.count + rejected.count
        }
      })
    report.records = counts.records
    report.blankLines = counts.blankLines
    report.skippedLines = counts.skippedLines
    report.skipped = counts.skipped
    report.pairs = pairs.count
    guard !pairs.isEmpty else {
      let reason =
        counts.emptyReason
        ?? "none of the \(report.records) records has a usable chosen/rejected pair (\(report.skippedLines) bad lines, "
        + "\(report.droppedWithoutTargets) pairs without trained tokens and "
        + "\(report.droppedIdenticalAfterTruncation) identical after truncation to "
        + "\(options.seqLen.map(String.init) ?? "no limit"))"
      throw .emptyDataset(path: path, reason: reason)
    }
    var dataset = PreferenceDataset(path: path, pairs: pairs)
    dataset.report = report
    return dataset
  }

  /// Both sides of every pair, before truncation; a side shared by several pairs of a ranking is encoded once.
  private static func encode(_ records: [PreferencePairRecord], encoder: ExampleEncoder) throws(DataRecordError)
    -> [(chosen: TrainingExample, rejected: TrainingExample)]
  {
    var cache: [(record: DataRecord, example: TrainingExample)] = []
    func example(_ record: DataRecord) throws(DataRecordError) -> TrainingExample {
      if let hit = cache.first(where: { $0.record == record }) { return hit.example }
      let example = try encoder.encode(record)
      cache.append((record, example))
      return example
    }
    var encoded: [(chosen: TrainingExample, rejected: TrainingExample)] = []
    encoded.reserveCapacity(records.count)
    for pair in records { encoded.append((try example(pair.chosen), try example(pair.rejected))) }
    return encoded
  }

  /// Splits off a validation set by line, so every pair of a ranked line lands on the same side (a model must not
  /// be validated on a ranking it trained on): `fraction` of the lines (rounded, at least one, leaving at least one
  /// for training), chosen by a seeded shuffle, so the same file, fraction and seed always give the same split.
  /// Both parts keep file order.
  public func split(fraction: Double, seed: UInt64) throws(TrainingError) -> (
    train: PreferenceDataset, validation: PreferenceDataset
  ) {
    guard fraction > 0 && fraction < 1 else {
      throw .invalidOption(name: "validation fraction", reason: "must be between 0 and 1 (exclusive), not \(fraction)")
    }
    var lines = Set(pairs.map(\.line)).sorted()
    guard lines.count >= 2 else {
      throw .emptyDataset(
        path: path, reason: "pairs from \(lines.count) line cannot be split into training and validation sets")
    }
    let validationCount = min(lines.count - 1, max(1, Int((fraction * Double(lines.count)).rounded())))
    var random = DataRandom(seed: seed, stream: [0x7370_6C69_74])  // "split"
    random.shuffle(&lines)
    let validationLines = Set(lines[..<validationCount])
    let validation = pairs.indices.filter { validationLines.contains(pairs[$0].line) }
    let train = pairs.indices.filter { !validationLines.contains(pairs[$0].line) }
    return (subset(train), subset(validation))
  }

  /// The pairs at `indices`, in that order; the report keeps the file's load counts, with its pair and token
  /// totals recomputed for the subset.
  public func subset(_ indices: [Int]) -> PreferenceDataset {
    var part = PreferenceDataset(path: path, pairs: indices.map { pairs[$0] })
    var report = self.report
    report.pairs = part.report.pairs
    report.tokens = part.report.tokens
    part.report = report
    return part
  }
}
