import Glibc

/// Reads a text file one line at a time with getline(3): only the current line is in memory, however large the
/// file. Owns the `FILE` and getline's buffer, and frees both in `deinit`.
struct LineReader: ~Copyable {
  let path: String
  // unsafe: the FILE stream and getline's malloc'd buffer are owned here alone and released in deinit.
  private let file: UnsafeMutablePointer<FILE>
  private var buffer: UnsafeMutablePointer<CChar>? = nil
  private var capacity = 0
  /// 1-based number of the line last returned.
  private(set) var lineNumber = 0

  init(path: String) throws(TrainingError) {
    guard let file = fopen(path, "rb") else {
      throw .unreadableFile(path: path, reason: String(cString: strerror(errno)))
    }
    self.path = path
    self.file = file
  }

  deinit {
    free(buffer)
    fclose(file)
  }

  /// Calls `body` with the next line's bytes, without its "\n" or "\r\n" (and without a UTF-8 byte-order mark on
  /// line 1) and its 1-based number; returns nil at the end of the file. The bytes are valid only inside `body`.
  mutating func nextLine<Result>(
    _ body: (_ line: UnsafeRawBufferPointer, _ lineNumber: Int) throws(TrainingError) -> Result
  ) throws(TrainingError) -> Result? {
    let length = getline(&buffer, &capacity, file)
    guard length >= 0, let buffer else {
      if ferror(file) != 0 {
        throw .unreadableFile(
          path: path, reason: "read error after line \(lineNumber): \(String(cString: strerror(errno)))")
      }
      return nil
    }
    lineNumber += 1
    var start = 0
    var end = length
    if end > 0 && buffer[end - 1] == 0x0A { end -= 1 }
    if end > 0 && buffer[end - 1] == 0x0D { end -= 1 }
    if lineNumber == 1 && end >= 3 && UInt8(bitPattern: buffer[0]) == 0xEF && UInt8(bitPattern: buffer[1]) == 0xBB
      && UInt8(bitPattern: buffer[2]) == 0xBF
    {
      start = 3
    }
    return try body(UnsafeRawBufferPointer(start: buffer + start, count: end - start), lineNumber)
  }
}

/// What reading a JSONL file met besides its records' contents: how many lines held records, were blank, or were
/// bad and skipped (the first `DataLoadReport.maxSkippedKept` kept with their reasons).
struct JSONLLineCounts {
  var records = 0
  var blankLines = 0
  var skippedLines = 0
  var skipped: [DataLoadReport.SkippedLine] = []

  /// Why a file gave nothing when that is about its lines (none, or all bad); nil when the records themselves were
  /// unusable, which only the caller can say.
  var emptyReason: String? {
    if records == 0 { return "the file has no records (\(blankLines) blank lines)" }
    if skippedLines == records {
      return "all \(records) records are bad lines (first: "
        + (skipped.first.map { "line \($0.line): \($0.reason)" } ?? "?") + ")"
    }
    return nil
  }
}

private enum RecordLine<Record> {
  case blank
  case bad(line: Int, reason: String)
  case record(Record, line: Int)
}

extension LineReader {
  /// Reads every line of a JSONL file: blank lines are counted; every other line goes through `parse`, and `body`
  /// gets each parsed record with its 1-based line number. A line `parse` rejects throws `TrainingError.badLine`
  /// naming the file and line, or with `skipBadLines` is counted and skipped. One reading loop for SFT data,
  /// preference pairs and prompts.
  static func forEachRecord<Record>(
    path: String, skipBadLines: Bool, parse: (UnsafeRawBufferPointer) throws(DataRecordError) -> Record,
    body: (Record, Int) throws(TrainingError) -> Void
  ) throws(TrainingError) -> JSONLLineCounts {
    var reader = try LineReader(path: path)
    var counts = JSONLLineCounts()
    while let outcome = try reader.nextLine({ bytes, line throws(TrainingError) -> RecordLine<Record> in
      if bytes.allSatisfy({ $0 == 0x20 || (0x09...0x0D).contains($0) }) { return .blank }
      do throws(DataRecordError) {
        return .record(try parse(bytes), line: line)
      } catch {
        guard skipBadLines else { throw .badLine(path: path, line: line, reason: error.reason) }
        return .bad(line: line, reason: error.reason)
      }
    }) {
      switch outcome {
      case .blank:
        counts.blankLines += 1
      case .bad(let line, let reason):
        counts.records += 1
        counts.skippedLines += 1
        if counts.skipped.count < DataLoadReport.maxSkippedKept {
          counts.skipped.append(.init(line: line, reason: reason))
        }
      case .record(let record, let line):
        counts.records += 1
        try body(record, line)
      }
    }
    return counts
  }
}
