public import Model

/// What loading a JSONL file found: how many lines became examples, and what was skipped, cut or dropped.
public struct DataLoadReport: Sendable, Equatable, Codable {
  /// Non-blank lines read.
  public var records = 0
  /// Lines holding only whitespace, skipped silently.
  public var blankLines = 0
  /// Bad lines skipped under `skipBadLines`, and the first `maxSkippedKept` of them with their reasons.
  public var skippedLines = 0
  public var skipped: [SkippedLine] = []
  /// Examples cut to `seqLen` tokens.
  public var truncated = 0
  /// Examples left with no trained token (no assistant turn, or truncation cut the whole completion): dropped,
  /// since they would cost a forward pass and contribute no loss.
  public var droppedWithoutTargets = 0
  /// Examples kept, their tokens, and how many of those tokens have a target.
  public var examples = 0
  public var tokens = 0
  public var targetTokens = 0
  /// Longest example before truncation, in tokens.
  public var longest = 0
  /// Examples kept per record shape.
  public var shapes: [DataRecord.Shape: Int] = [:]

  /// A bad line that was skipped: its 1-based number and what is wrong with it.
  public struct SkippedLine: Sendable, Equatable, Codable {
    public var line: Int
    public var reason: String
  }

  public static let maxSkippedKept = 100

  public init() {}

  /// One line for a log: "120 examples (81234 tokens, 40211 trained); 2 bad lines skipped; 3 truncated".
  public var summary: String {
    var parts = ["\(examples) examples (\(tokens) tokens, \(targetTokens) trained)"]
    if let first = skipped.first {
      parts.append(
        "\(skippedLines) bad line\(skippedLines == 1 ? "" : "s") skipped (first: line \(first.line): \(first.reason))")
    }
    if truncated > 0 { parts.append("\(truncated) truncated") }
    if droppedWithoutTargets > 0 { parts.append("\(droppedWithoutTargets) dropped without trained tokens") }
    return parts.joined(separator: "; ")
  }
}

/// The examples of one JSONL file, tokenized and masked, stored flat: one token array, one mask array and the
/// offsets between examples, rather than an array per example.
///
/// Lines are read one at a time (getline), each is parsed on its own and its shape detected (`DataRecord`), so a
/// file may mix shapes. Line numbers in errors are 1-based and count every line, blank ones included.
public struct JSONLDataset: Sendable {
  /// The file the examples came from (for messages).
  public let path: String
  public private(set) var report: DataLoadReport
  /// All examples' tokens back to back, and their masks, (N).
  private var tokens: [Int32] = []
  private var mask: [Bool] = []
  /// Example i is `tokens[offsets[i]..<offsets[i + 1]]`, (count + 1).
  private var offsets: [Int] = [0]
  /// 1-based source line of each example, (count).
  private var lines: [Int32] = []

  /// An in-memory dataset (tests, generated data); `path` only names it.
  public init(path: String, examples: [TrainingExample]) {
    self.path = path
    self.report = DataLoadReport()
    for (index, example) in examples.enumerated() { append(example, line: index + 1) }
  }

  public var count: Int { offsets.count - 1 }
  public var isEmpty: Bool { count == 0 }

  public subscript(index: Int) -> TrainingExample {
    let range = offsets[index]..<offsets[index + 1]
    return TrainingExample(tokens: Array(tokens[range]), lossMask: Array(mask[range]))
  }

  /// Token count of example `index`, without copying it.
  public func length(of index: Int) -> Int { offsets[index + 1] - offsets[index] }

  /// The 1-based line of the file example `index` came from.
  public func line(of index: Int) -> Int { Int(lines[index]) }

  private mutating func append(_ example: TrainingExample, line: Int) {
    tokens += example.tokens
    mask += example.lossMask
    offsets.append(tokens.count)
    lines.append(Int32(clamping: line))
    report.examples += 1
    report.tokens += example.count
    report.targetTokens += example.targetCount
  }

  /// Loads `path` with `model`'s tokenizer, chat template and EOS.
  public static func load(path: String, model: LanguageModel, options: DataOptions = .init()) throws(TrainingError)
    -> JSONLDataset
  {
    try load(path: path, encoder: ExampleEncoder(model: model, options: options))
  }

  /// Loads `path`, one record per line.
  ///
  /// Throws `TrainingError.badLine` naming the file and 1-based line for invalid UTF-8, invalid JSON, a record of
  /// no known shape, fields of the wrong type, an empty message list or an unknown role, unless
  /// `options.skipBadLines` (then such lines are counted in `report.skippedLines`). Blank lines are skipped.
  /// Examples longer than `options.seqLen` keep their first `seqLen` tokens (`report.truncated` counts them);
  /// examples with nothing to train on are dropped (`report.droppedWithoutTargets`). No example left throws
  /// `.emptyDataset`.
  public static func load(path: String, encoder: ExampleEncoder) throws(TrainingError) -> JSONLDataset {
    let options = encoder.options
    if let seqLen = options.seqLen, seqLen < 2 {
      throw .invalidOption(name: "seqLen", reason: "must be at least 2 tokens, not \(seqLen)")
    }
    var dataset = JSONLDataset(path: path, examples: [])
    var report = DataLoadReport()
    let counts = try LineReader.forEachRecord(
      path: path, skipBadLines: options.skipBadLines,
      parse: { bytes throws(DataRecordError) in
        let record = try DataRecord(jsonLine: bytes)
        return (try encoder.encode(record), record.shape)
      },
      body: { encoded, line in
        var (example, shape) = encoded
        report.longest = max(report.longest, example.count)
        if let seqLen = options.seqLen, example.truncate(to: seqLen) { report.truncated += 1 }
        guard example.targetCount > 0 else {
          report.droppedWithoutTargets += 1
          return
        }
        report.shapes[shape, default: 0] += 1
        dataset.append(example, line: line)
      })
    report.records = counts.records
    report.blankLines = counts.blankLines
    report.skippedLines = counts.skippedLines
    report.skipped = counts.skipped
    report.examples = dataset.report.examples
    report.tokens = dataset.report.tokens
    report.targetTokens = dataset.report.targetTokens
    dataset.report = report
    guard !dataset.isEmpty else {
      let reason =
        counts.emptyReason
        ?? "none of the \(report.records) records has a token to train on (\(report.skippedLines) bad lines, "
        + "\(report.droppedWithoutTargets) without trained tokens after truncation to "
        + "\(options.seqLen.map(String.init) ?? "no limit"))"
      throw .emptyDataset(path: path, reason: reason)
    }
    return dataset
  }

  /// The examples at `indices`, in that order; the report keeps the file's load counts, with its example, token
  /// and target totals recomputed for the subset.
  public func subset(_ indices: [Int]) -> JSONLDataset {
    var part = JSONLDataset(path: path, examples: [])
    for index in indices { part.append(self[index], line: line(of: index)) }
    var report = self.report
    report.examples = part.report.examples
    report.tokens = part.report.tokens
    report.targetTokens = part.report.targetTokens
    part.report = report
    return part
  }
}
