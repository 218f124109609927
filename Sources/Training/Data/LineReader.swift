import Glibc
import Memory

/// Reads a text file one line at a time: only the current line is in memory, however large the file. Owns the file
/// descriptor and the line buffer, and releases both in `deinit`.
///
/// A line may be at most `maximumLineBytes` long: JSONL records are examples of a few kilobytes, and a file without
/// newlines (a binary file, or one huge line) would otherwise be read whole into memory. A failed read or a buffer
/// that cannot grow is an error naming the line, never the end of the file (which would train on the lines before
/// it as if they were all). Only regular files are read: a FIFO with no writer would block forever.
struct LineReader: ~Copyable {
  /// The default line limit: generous for any record, far below the memory of the machines EdgeTune runs on.
  static let defaultMaximumLineBytes = 64 << 20
  let path: String
  let maximumLineBytes: Int
  private let descriptor: Int32
  // unsafe: a malloc'd buffer owned here alone (realloc reports failure, where Swift's allocation would trap), freed
  // in deinit. Unread bytes are `start..<end`.
  private var buffer: UnsafeMutableRawPointer
  private var capacity: Int
  private var start = 0
  private var end = 0
  private var atEndOfFile = false
  /// 1-based number of the line last returned.
  private(set) var lineNumber = 0

  init(path: String, maximumLineBytes: Int = LineReader.defaultMaximumLineBytes) throws(TrainingError) {
    let file: (descriptor: Int32, size: Int)
    do {
      file = try openRegularFile(path)
    } catch {
      throw .unreadableFile(path: path, reason: error.reason)
    }
    let capacity = min(1 << 16, maximumLineBytes + 1)
    guard let buffer = malloc(capacity) else {
      close(file.descriptor)
      throw .unreadableFile(path: path, reason: "out of memory for a \(capacity)-byte line buffer")
    }
    self.path = path
    self.maximumLineBytes = maximumLineBytes
    self.descriptor = file.descriptor
    self.buffer = buffer
    self.capacity = capacity
  }

  deinit {
    free(buffer)
    close(descriptor)
  }

  /// Calls `body` with the next line's bytes, without its "\n" or "\r\n" (and without a UTF-8 byte-order mark on
  /// line 1) and its 1-based number; returns nil at the end of the file. The bytes are valid only inside `body`.
  mutating func nextLine<Result>(
    _ body: (_ line: UnsafeRawBufferPointer, _ lineNumber: Int) throws(TrainingError) -> Result
  ) throws(TrainingError) -> Result? {
    var scanned = start
    var lineEnd: Int
    var nextStart: Int
    while true {
      if let newline = memchr(buffer + scanned, 0x0A, end - scanned) {
        lineEnd = buffer.distance(to: newline)
        nextStart = lineEnd + 1
        break
      }
      scanned = end
      if atEndOfFile {
        guard start < end else { return nil }
        lineEnd = end
        nextStart = end
        break
      }
      guard end - start <= maximumLineBytes else {
        throw .badLine(
          path: path, line: lineNumber + 1,
          reason: "the line is longer than \(ByteCount.format(maximumLineBytes)), the limit for one record; a JSONL "
            + "file holds one JSON object per line")
      }
      try fill(scanned: &scanned)
    }
    lineNumber += 1
    var first = start
    start = nextStart
    var last = lineEnd
    let bytes = buffer.assumingMemoryBound(to: UInt8.self)
    if last > first && bytes[last - 1] == 0x0D { last -= 1 }
    if lineNumber == 1 && last - first >= 3 && bytes[first] == 0xEF && bytes[first + 1] == 0xBB
      && bytes[first + 2] == 0xBF
    {
      first += 3
    }
    return try body(UnsafeRawBufferPointer(start: buffer + first, count: last - first), lineNumber)
  }

  /// Reads more of the file behind the unread bytes: moves them to the front, grows the buffer when they fill it
  /// (up to the line limit plus its newline), and sets `atEndOfFile` when the file has no more.
  private mutating func fill(scanned: inout Int) throws(TrainingError) {
    if start > 0 {
      memmove(buffer, buffer + start, end - start)
      end -= start
      scanned -= start
      start = 0
    }
    if end == capacity {
      let grown = min(capacity * 2, maximumLineBytes + 1)
      guard let larger = realloc(buffer, grown) else {
        throw .unreadableFile(
          path: path, reason: "out of memory reading line \(lineNumber + 1) (\(ByteCount.format(grown)))")
      }
      buffer = larger
      capacity = grown
    }
    while true {
      let count = read(descriptor, buffer + end, capacity - end)
      if count > 0 {
        end += count
        return
      }
      if count == 0 {
        atEndOfFile = true
        return
      }
      guard errno == EINTR else {
        throw .unreadableFile(
          path: path, reason: "read error after line \(lineNumber): \(String(cString: strerror(errno)))")
      }
    }
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
