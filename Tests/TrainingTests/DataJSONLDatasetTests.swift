import Foundation
import Model
import Testing
import Training

/// Loading JSONL: per-line shape detection, errors naming file and line, skipping, truncation, splits.
@Suite struct DataJSONLDatasetTests {
  static let mixedBad = DataFixtures.fixtures.appendingPathComponent("data-mixed-bad.jsonl").path

  /// The bad lines of Fixtures/data-mixed-bad.jsonl and a word of each reason.
  static let expectedBadLines: [(line: Int, reason: String)] = [
    (3, "invalid JSON"), (5, "invalid UTF-8 at byte 14"), (6, "no known record shape"),
    (7, "\"text\" must be a string, not a number"), (8, "\"messages\" is empty"), (9, "unknown role \"wizard\""),
    (11, "must be a JSON object, not a list"), (12, "\"prompt\" without \"completion\""),
    (13, "\"completion\" must be one too, not a string"), (14, "messages[0].content must be a string, not null"),
  ]

  @Test func firstBadLineFailsWithFileAndLine() throws {
    let model = try DataFixtures.tinyModel()
    let error = #expect(throws: TrainingError.self) { try JSONLDataset.load(path: Self.mixedBad, model: model) }
    guard case .badLine(let path, let line, let reason) = error else {
      Issue.record("expected badLine, got \(String(describing: error))")
      return
    }
    #expect(path == Self.mixedBad)
    #expect(line == 3)
    #expect(reason.hasPrefix("invalid JSON"))
  }

  @Test func eachBadLineIsReportedAtItsLineNumber() throws {
    let model = try DataFixtures.tinyModel()
    // Loading the file cut just after each bad line, with the earlier bad lines blanked, fails at that line.
    let raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.mixedBad)))
    let rawLines = raw.split(separator: 0x0A, omittingEmptySubsequences: false)
    #expect(rawLines.count == 17)  // 16 lines and the empty rest after the final newline
    for (line, reason) in Self.expectedBadLines {
      var bytes: [UInt8] = []
      for index in 0..<line {
        let isEarlierBad = Self.expectedBadLines.contains { $0.line == index + 1 && $0.line < line }
        if !isEarlierBad { bytes += rawLines[index] }
        bytes.append(0x0A)
      }
      let path = try DataFixtures.temporaryFile(bytes: bytes)
      let error = #expect(throws: TrainingError.self) { try JSONLDataset.load(path: path, model: model) }
      guard case .badLine(let reportedPath, let reportedLine, let reportedReason) = error else {
        Issue.record("line \(line): expected badLine, got \(String(describing: error))")
        continue
      }
      #expect(reportedPath == path)
      #expect(reportedLine == line)
      #expect(reportedReason.contains(reason), "line \(line): \(reportedReason)")
    }
  }

  @Test func skippingCountsBadLinesAndKeepsTheRest() throws {
    let model = try DataFixtures.tinyModel()
    let dataset = try JSONLDataset.load(path: Self.mixedBad, model: model, options: DataOptions(skipBadLines: true))
    let report = dataset.report
    #expect(dataset.count == 4)
    #expect(report.skippedLines == Self.expectedBadLines.count)
    #expect(report.skipped.map(\.line) == Self.expectedBadLines.map(\.line))
    for (skipped, expected) in zip(report.skipped, Self.expectedBadLines) {
      #expect(skipped.reason.contains(expected.reason), "line \(skipped.line): \(skipped.reason)")
    }
    #expect(report.blankLines == 2)
    #expect(report.records == 14)
    #expect((0..<dataset.count).map { dataset.line(of: $0) } == [1, 4, 10, 16])
    #expect(report.shapes == [.text: 2, .promptCompletion: 1, .messages: 1])
    #expect(report.examples == 4)
    #expect(report.tokens == (0..<4).map { dataset[$0].count }.reduce(0, +))
    #expect(report.summary.contains("10 bad lines skipped (first: line 3: invalid JSON"))
    // The CRLF line lost its "\r": the last example is exactly "last good" + EOS.
    #expect(dataset[3].tokens == model.encodePrompt("last good") + [model.eosID!])
  }

  @Test func missingFileIsUnreadable() throws {
    let model = try DataFixtures.tinyModel()
    #expect(throws: TrainingError.unreadableFile(path: "/nonexistent/d.jsonl", reason: "No such file or directory")) {
      try JSONLDataset.load(path: "/nonexistent/d.jsonl", model: model)
    }
  }

  @Test func emptyDatasetsAreErrors() throws {
    let model = try DataFixtures.tinyModel()
    let blank = try DataFixtures.temporaryFile("\n  \n\n")
    #expect {
      try JSONLDataset.load(path: blank, model: model)
    } throws: { error in
      guard case .emptyDataset(let path, let reason) = error as? TrainingError else { return false }
      return path == blank && reason.contains("no records")
    }
    let allBad = try DataFixtures.temporaryFile("{}\n[]\n")
    #expect {
      try JSONLDataset.load(path: allBad, model: model, options: DataOptions(skipBadLines: true))
    } throws: { error in
      guard case .emptyDataset(_, let reason) = error as? TrainingError else { return false }
      return reason.contains("all 2 records are bad lines")
    }
    let noAssistant = try DataFixtures.temporaryFile(
      try DataFixtures.line(["messages": [["role": "user", "content": "hi"]]]) + "\n")
    #expect(throws: TrainingError.self) { try JSONLDataset.load(path: noAssistant, model: model) }
  }

  @Test func truncationKeepsTheStartAndCounts() throws {
    let model = try DataFixtures.tinyModel()
    let long = String(repeating: "abc def ", count: 20)
    let lines = [
      try DataFixtures.line(["text": long]),
      try DataFixtures.line(["text": "short"]),
      try DataFixtures.line(["prompt": long, "completion": " end"]),  // the completion is cut away entirely
      try DataFixtures.line(["prompt": "q", "completion": long]),
    ]
    let path = try DataFixtures.temporaryFile(lines.joined(separator: "\n"))
    let seqLen = 16
    // Raw pairs: the prompt's own tokens fill the row (through the chat template, its header would too).
    let dataset = try JSONLDataset.load(
      path: path, model: model, options: DataOptions(seqLen: seqLen, rawPairs: true))
    #expect(dataset.report.truncated == 3)
    #expect(dataset.report.droppedWithoutTargets == 1)
    #expect(dataset.count == 3)
    #expect((0..<dataset.count).map { dataset.line(of: $0) } == [1, 2, 4])
    #expect((0..<dataset.count).allSatisfy { dataset[$0].count <= seqLen })
    #expect(dataset[0].tokens == Array(model.encodePrompt(long).prefix(seqLen)))
    #expect(dataset.report.longest > seqLen)
    #expect(throws: TrainingError.self) {
      try JSONLDataset.load(path: path, model: model, options: DataOptions(seqLen: 1))
    }
  }

  @Test func mixedShapesInOneFile() throws {
    let model = try DataFixtures.tinyModel()
    let lines = [
      try DataFixtures.line(["text": "plain"]),
      try DataFixtures.line(["prompt": "p", "completion": "c"]),
      try DataFixtures.line([
        "prompt": [["role": "user", "content": "u"]], "completion": [["role": "assistant", "content": "a"]],
      ]),
      try DataFixtures.line([
        "messages": [["role": "user", "content": "u"], ["role": "assistant", "content": "a"]], "extra": true,
      ]),
    ]
    let dataset = try JSONLDataset.load(
      path: try DataFixtures.temporaryFile(lines.joined(separator: "\n")), model: model)
    #expect(
      dataset.report.shapes == [.text: 1, .promptCompletion: 1, .conversationalPromptCompletion: 1, .messages: 1])
    #expect(DataFixtures.maskedRuns(dataset[3], model.tokenizer) == ["a<|im_end|>"])
  }

  @Test func splitIsDeterministicDisjointAndInFileOrder() throws {
    let dataset = DataFixtures.taggedDataset(tag: 9000, count: 100)
    let first = try dataset.split(fraction: 0.1, seed: 7)
    let again = try dataset.split(fraction: 0.1, seed: 7)
    let other = try dataset.split(fraction: 0.1, seed: 8)
    func ids(_ part: JSONLDataset) -> [Int] { (0..<part.count).map { part.line(of: $0) } }
    #expect(first.validation.count == 10 && first.train.count == 90)
    #expect(ids(first.validation) == ids(again.validation) && ids(first.train) == ids(again.train))
    #expect(ids(first.validation) != ids(other.validation))
    #expect(Set(ids(first.validation)).isDisjoint(with: ids(first.train)))
    #expect(Set(ids(first.validation) + ids(first.train)) == Set(1...100))
    #expect(ids(first.validation) == ids(first.validation).sorted())
    #expect(first.validation[0] == dataset[first.validation.line(of: 0) - 1])
    #expect(first.train.report.examples == 90)
    #expect(throws: TrainingError.self) { try dataset.split(fraction: 1, seed: 7) }
    // Tiny sets still leave one example on each side.
    let two = try DataFixtures.taggedDataset(tag: 1, count: 2).split(fraction: 0.01, seed: 1)
    #expect(two.train.count == 1 && two.validation.count == 1)
  }

  @Test func validationFileOrFraction() throws {
    let model = try DataFixtures.tinyModel()
    let train = try DataFixtures.temporaryFile((0..<10).map { "{\"text\": \"t\($0)\"}" }.joined(separator: "\n"))
    let val = try DataFixtures.temporaryFile("{\"text\": \"v\"}\n")
    let encoder = ExampleEncoder(model: model)
    let withFile = try JSONLDataset.loadWithValidation(
      trainPath: train, validationPath: val, validationFraction: 0.5, seed: 1, encoder: encoder)
    #expect(withFile.train.count == 10 && withFile.validation?.count == 1)
    let withFraction = try JSONLDataset.loadWithValidation(
      trainPath: train, validationPath: nil, validationFraction: 0.2, seed: 1, encoder: encoder)
    #expect(withFraction.train.count == 8 && withFraction.validation?.count == 2)
    let without = try JSONLDataset.loadWithValidation(
      trainPath: train, validationPath: nil, validationFraction: 0, seed: 1, encoder: encoder)
    #expect(without.train.count == 10 && without.validation == nil)
  }
}
