import Foundation
import Model
import Testing

@testable import Training

/// Preference data: every TRL preference format and ranked lists parse to the right pairs, bad records say what is
/// wrong, and loading encodes both sides as SFT examples with file line numbers, skipping, drops and splits.
@Suite struct PreferenceDataTests {
  static let user = ["role": "user", "content": "What is 2+2?"]
  static let system = ["role": "system", "content": "Be brief."]
  static func assistant(_ content: String) -> [String: String] { ["role": "assistant", "content": content] }
  static func message(_ object: [String: String]) -> ChatMessage {
    ChatMessage(role: object["role"]!, content: object["content"]!)
  }

  static func parse(_ line: String) throws -> [PreferencePairRecord] {
    try Array(line.utf8).withUnsafeBytes { try PreferenceRecord.pairs(jsonLine: $0) }
  }

  static func parse(_ object: Any) throws -> [PreferencePairRecord] { try parse(try DataFixtures.line(object)) }

  /// The reason `line` is rejected, or nil when it parses.
  static func reason(_ line: String) -> String? {
    do {
      _ = try parse(line)
      return nil
    } catch {
      return (error as? DataRecordError)?.reason ?? "not a DataRecordError: \(error)"
    }
  }

  // MARK: Formats

  @Test func explicitStandard() throws {
    let pairs = try Self.parse(["prompt": "The sky is", "chosen": " blue.", "rejected": " green.", "id": 7])
    #expect(
      pairs == [
        PreferencePairRecord(
          chosen: .promptCompletion(prompt: "The sky is", completion: " blue."),
          rejected: .promptCompletion(prompt: "The sky is", completion: " green."))
      ])
  }

  @Test func explicitConversational() throws {
    let pairs = try Self.parse([
      "prompt": [Self.system, Self.user], "chosen": [Self.assistant("4")], "rejected": [Self.assistant("5")],
    ])
    let prompt = [Self.message(Self.system), Self.message(Self.user)]
    #expect(
      pairs == [
        PreferencePairRecord(
          chosen: .conversationalPromptCompletion(prompt: prompt, completion: [Self.message(Self.assistant("4"))]),
          rejected: .conversationalPromptCompletion(prompt: prompt, completion: [Self.message(Self.assistant("5"))]))
      ])
  }

  @Test(arguments: [
    // TRL's example: the space before the divergence goes with the completions.
    ("The sky is blue.", "The sky is green.", "The sky is", " blue.", " green."),
    ("Q: 2+2? A: 4", "Q: 2+2? A: 5", "Q: 2+2? A:", " 4", " 5"),
    ("abcX", "abcYZ", "abc", "X", "YZ"),
    ("héllo wörld", "héllo wörms", "héllo wör", "ld", "ms"),
  ])
  func implicitStandardTakesTheCommonPrefix(
    chosen: String, rejected: String, prompt: String, chosenCompletion: String, rejectedCompletion: String
  ) throws {
    let pairs = try Self.parse(["chosen": chosen, "rejected": rejected])
    #expect(
      pairs == [
        PreferencePairRecord(
          chosen: .promptCompletion(prompt: prompt, completion: chosenCompletion),
          rejected: .promptCompletion(prompt: prompt, completion: rejectedCompletion))
      ])
  }

  @Test func implicitConversationalTakesTheSharedLeadingMessages() throws {
    let followUp = ["role": "user", "content": "And 3+3?"]
    let pairs = try Self.parse([
      "chosen": [Self.system, Self.user, Self.assistant("4"), followUp, Self.assistant("6")],
      "rejected": [Self.system, Self.user, Self.assistant("4"), followUp, Self.assistant("7"), Self.user],
    ])
    let prompt = [Self.system, Self.user, Self.assistant("4"), followUp].map(Self.message)
    #expect(
      pairs == [
        PreferencePairRecord(
          chosen: .conversationalPromptCompletion(prompt: prompt, completion: [Self.message(Self.assistant("6"))]),
          rejected: .conversationalPromptCompletion(
            prompt: prompt, completion: [Self.message(Self.assistant("7")), Self.message(Self.user)]))
      ])
  }

  @Test func rankedStringsExpandToEveryOrderedPair() throws {
    let completions = [" a", " b", " c", " d"]
    let pairs = try Self.parse(["prompt": "P:", "completions": completions])
    #expect(pairs.count == 6)
    let expected = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)].map { i, j in
      PreferencePairRecord(
        chosen: .promptCompletion(prompt: "P:", completion: completions[i]),
        rejected: .promptCompletion(prompt: "P:", completion: completions[j]))
    }
    #expect(pairs == expected)
  }

  @Test func rankedMessagesExpandToEveryOrderedPair() throws {
    let completions = ["4", "four", "5"].map { [Self.assistant($0)] }
    let pairs = try Self.parse(["prompt": [Self.user], "completions": completions])
    let prompt = [Self.message(Self.user)]
    let expected = [(0, 1), (0, 2), (1, 2)].map { i, j in
      PreferencePairRecord(
        chosen: .conversationalPromptCompletion(prompt: prompt, completion: completions[i].map(Self.message)),
        rejected: .conversationalPromptCompletion(prompt: prompt, completion: completions[j].map(Self.message)))
    }
    #expect(pairs == expected)
  }

  // MARK: Errors

  static let user1 = #"{"role": "user", "content": "q"}"#
  static let assistantA = #"{"role": "assistant", "content": "a"}"#
  static let assistantB = #"{"role": "assistant", "content": "b"}"#

  @Test(arguments: [
    ("{", "invalid JSON"),
    ("[1, 2]", "a record must be a JSON object, not a list"),
    (#"{"prompt": "p", "chosen": "a"}"#, "missing \"rejected\""),
    (#"{"prompt": "p", "rejected": "a"}"#, "missing \"chosen\":"),
    (#"{"prompt": "p", "completion": "c"}"#, "missing \"chosen\" and \"rejected\""),
    (#"{"text": "x", "id": 1}"#, "no preference record shape: expected \"chosen\" + \"rejected\""),
    (#"{"text": "x", "id": 1}"#, "(found keys: \"id\", \"text\")"),
    (
      #"{"prompt": 3, "chosen": "a", "rejected": "b"}"#,
      "\"prompt\" must be a string or a list of messages, not a number"
    ),
    (#"{"prompt": "p", "chosen": ["a"], "rejected": "b"}"#, "so \"chosen\" must be one too, not a list"),
    (#"{"prompt": "p", "chosen": "a", "rejected": null}"#, "so \"rejected\" must be one too, not null"),
    (#"{"chosen": "a", "rejected": 1}"#, "\"chosen\" is a string, so \"rejected\" must be one too, not a number"),
    (#"{"chosen": true, "rejected": "b"}"#, "\"chosen\" must be a string or a list of messages, not a boolean"),
    (#"{"chosen": [\#(user1)], "rejected": "b"}"#, "so \"rejected\" must be one too, not a string"),
    (#"{"prompt": [\#(user1)], "chosen": "a", "rejected": "b"}"#, "so \"chosen\" must be one too, not a string"),
    (#"{"prompt": " \n ", "chosen": "a", "rejected": "b"}"#, "\"prompt\" is empty or only whitespace"),
    (#"{"prompt": [], "chosen": [\#(assistantA)], "rejected": [\#(assistantB)]}"#, "\"prompt\" is empty"),
    (
      #"{"prompt": [{"role": "wizard", "content": "x"}], "chosen": [\#(assistantA)], "rejected": [\#(assistantB)]}"#,
      "prompt[0] has unknown role \"wizard\""
    ),
    (#"{"prompt": [\#(user1)], "chosen": [], "rejected": [\#(assistantB)]}"#, "\"chosen\" is empty"),
    (#"{"prompt": "p", "chosen": "", "rejected": "b"}"#, "\"chosen\" is empty"),
    (#"{"prompt": "p", "chosen": "a", "rejected": ""}"#, "\"rejected\" is empty"),
    (#"{"chosen": "", "rejected": "b"}"#, "\"chosen\" is empty"),
    (
      #"{"prompt": "p", "chosen": "a", "rejected": "a"}"#, "chosen and rejected are identical: the pair teaches nothing"
    ),
    (#"{"chosen": "same", "rejected": "same"}"#, "chosen and rejected are identical"),
    (
      #"{"prompt": [\#(user1)], "chosen": [\#(assistantA)], "rejected": [\#(assistantA)]}"#,
      "chosen and rejected are identical"
    ),
    (#"{"chosen": "abc", "rejected": "xyz"}"#, "chosen and rejected share no prompt; give \"prompt\" explicitly"),
    (#"{"chosen": " abc", "rejected": " xyz"}"#, "share no prompt"),
    (#"{"chosen": "Q: yes", "rejected": "Q: yes!"}"#, "\"chosen\" is empty after the prompt"),
    (#"{"chosen": [\#(assistantA)], "rejected": [\#(assistantB)]}"#, "share no leading message"),
    (#"{"chosen": [\#(user1)], "rejected": [\#(user1), \#(assistantB)]}"#, "\"chosen\" has nothing after the 1"),
    (#"{"chosen": [\#(user1), \#(assistantA)], "rejected": [\#(user1)]}"#, "\"rejected\" has nothing after"),
    (#"{"prompt": "p", "completions": ["a"]}"#, "\"completions\" has 1 completion; a ranking needs at least 2"),
    (#"{"prompt": "p", "completions": []}"#, "a ranking needs at least 2"),
    (#"{"prompt": "p", "completions": "a"}"#, "\"completions\" must be a list"),
    (#"{"completions": ["a", "b"]}"#, "\"completions\" without \"prompt\""),
    (#"{"prompt": "p", "completions": ["a", "b"], "chosen": "a"}"#, "not both"),
    (#"{"prompt": "p", "completions": ["a", "b", "a"]}"#, "completions[0] and completions[2] are identical"),
    (#"{"prompt": "p", "completions": ["a", ""]}"#, "completions[1] is empty"),
    (#"{"prompt": "p", "completions": ["a", 1]}"#, "completions[1] must be one too, not a number"),
    (
      #"{"prompt": [\#(user1)], "completions": [[\#(assistantA)], "b"]}"#,
      "completions[1] must be one too, not a string"
    ),
    (
      #"{"prompt": [\#(user1)], "completions": [[\#(assistantA)], [{"role": "bot", "content": "b"}]]}"#,
      "completions[1][0] has unknown role \"bot\""
    ),
    (
      #"{"prompt": [\#(user1)], "completions": [[\#(assistantA)], [\#(assistantB)], [\#(assistantA)]]}"#,
      "completions[0] and completions[2] are identical"
    ),
  ])
  func badRecordsSayWhatIsWrong(line: String, expected: String) {
    let reason = Self.reason(line)
    #expect(reason?.contains(expected) == true, "\(line): \(reason ?? "parsed")")
  }

  @Test func invalidUTF8IsReportedWithItsOffset() {
    let bytes: [UInt8] = Array(#"{"chosen": ""#.utf8) + [0xFF] + Array(#"", "rejected": "b"}"#.utf8)
    #expect(throws: DataRecordError("invalid UTF-8 at byte 12")) {
      try bytes.withUnsafeBytes { try PreferenceRecord.pairs(jsonLine: $0) }
    }
  }

  // MARK: Loading

  @Test func loadingEncodesBothSidesWithMasksOnTheCompletions() throws {
    let model = try DataFixtures.tinyModel()
    let eos = model.tokenizer.decode([try #require(model.eosID)])
    let lines = [
      try DataFixtures.line(["prompt": "The sky is", "chosen": " blue.", "rejected": " green."]),
      "",
      try DataFixtures.line(["prompt": "Count:", "completions": [" one", " two", " three"]]),
      try DataFixtures.line([
        "prompt": [Self.user], "chosen": [Self.assistant("4")], "rejected": [Self.assistant("5")],
      ]),
    ]
    let path = try DataFixtures.temporaryFile(lines.joined(separator: "\n") + "\n")
    // String pairs as raw text here (--raw-pairs); the chat-template default is checked at the end.
    let dataset = try PreferenceDataset.load(
      path: path, encoder: ExampleEncoder(model: model, options: DataOptions(rawPairs: true)))
    #expect(dataset.count == 5)
    #expect(dataset.pairs.map(\.line) == [1, 3, 3, 3, 4])
    let expected: [(prompt: String, chosen: String, rejected: String)] = [
      ("The sky is", " blue.", " green."), ("Count:", " one", " two"), ("Count:", " one", " three"),
      ("Count:", " two", " three"),
    ]
    for (index, (prompt, chosen, rejected)) in expected.enumerated() {
      let pair = dataset[index]
      #expect(pair.chosen.tokens == model.encodePrompt(prompt + chosen) + [model.eosID!])
      #expect(pair.rejected.tokens == model.encodePrompt(prompt + rejected) + [model.eosID!])
      #expect(DataFixtures.maskedRuns(pair.chosen, model.tokenizer) == [chosen + eos])
      #expect(DataFixtures.maskedRuns(pair.rejected, model.tokenizer) == [rejected + eos])
    }
    #expect(DataFixtures.maskedRuns(dataset[4].chosen, model.tokenizer) == ["4<|im_end|>"])
    #expect(DataFixtures.maskedRuns(dataset[4].rejected, model.tokenizer) == ["5<|im_end|>"])
    let report = dataset.report
    #expect(report.records == 3 && report.blankLines == 1 && report.pairs == 5 && report.skippedLines == 0)
    #expect(report.tokens == dataset.pairs.reduce(0) { $0 + $1.chosen.count + $1.rejected.count })
    #expect(report.longest == dataset.pairs.map { max($0.chosen.count, $0.rejected.count) }.max())
    #expect(report.summary == "5 pairs from 3 records (\(report.tokens) tokens)")

    // By default a string pair goes through the chat template: the same tokens as the pair written as messages.
    let encoder = ExampleEncoder(model: model)
    let chat = try PreferenceDataset.load(path: path, encoder: encoder)
    let asMessages = try encoder.encode(
      .conversationalPromptCompletion(
        prompt: [ChatMessage(role: "user", content: "The sky is")],
        completion: [ChatMessage(role: "assistant", content: " blue.")]))
    #expect(chat[0].chosen.tokens == asMessages.tokens && chat[0].chosen.lossMask == asMessages.lossMask)
    #expect(chat[0].chosen.tokens != dataset[0].chosen.tokens)
  }

  @Test func badLineFailsWithFileAndLine() throws {
    let model = try DataFixtures.tinyModel()
    let lines = [
      try DataFixtures.line(["chosen": "Hi there", "rejected": "Hi you"]), "  ",
      try DataFixtures.line(["prompt": "p", "chosen": "x", "rejected": "x"]),
      try DataFixtures.line(["prompt": "p", "chosen": "x", "rejected": "y"]),
    ]
    let path = try DataFixtures.temporaryFile(lines.joined(separator: "\n"))
    #expect(
      throws: TrainingError.badLine(
        path: path, line: 3, reason: "chosen and rejected are identical: the pair teaches nothing")
    ) { try PreferenceDataset.load(path: path, encoder: ExampleEncoder(model: model)) }
  }

  @Test func skippingBadLinesCountsThem() throws {
    let model = try DataFixtures.tinyModel()
    let lines = [
      "{", try DataFixtures.line(["prompt": "p", "chosen": "x", "rejected": "y"]), "",
      try DataFixtures.line(["text": "sft"]), try DataFixtures.line(["prompt": "q", "completions": [" a", " b"]]),
    ]
    let path = try DataFixtures.temporaryFile(lines.joined(separator: "\r\n") + "\r\n")
    let encoder = ExampleEncoder(model: model, options: DataOptions(skipBadLines: true))
    let dataset = try PreferenceDataset.load(path: path, encoder: encoder)
    #expect(dataset.pairs.map(\.line) == [2, 5])
    let report = dataset.report
    #expect(report.skippedLines == 2 && report.records == 4 && report.blankLines == 1)
    #expect(report.skipped.map(\.line) == [1, 4])
    #expect(report.skipped[0].reason.hasPrefix("invalid JSON"))
    #expect(report.skipped[1].reason.contains("no preference record shape"))
    #expect(report.summary.contains("2 bad lines skipped (first: line 1: invalid JSON"))
  }

  @Test func truncationDropsAndCounts() throws {
    let model = try DataFixtures.tinyModel()
    let encoder = ExampleEncoder(model: model)
    let prompt = "Tell me a story about a dog."
    let shared = " Once upon a time there was a dog named"
    let promptTokens = try encoder.encode(.promptCompletion(prompt: prompt, completion: shared + " Rex.")).lossMask
      .firstIndex(of: true)!
    let seqLen = promptTokens + 3
    let lines = [
      // Cut inside the shared start of both completions: both sides become the same tokens.
      try DataFixtures.line(["prompt": prompt, "chosen": shared + " Rex.", "rejected": shared + " Max."]),
      // The prompt alone fills seqLen: no side keeps a trained token.
      try DataFixtures.line([
        "prompt": prompt + String(repeating: " and more", count: 10), "chosen": " yes", "rejected": " no",
      ]),
      // Differs within seqLen: kept, though cut.
      try DataFixtures.line(["prompt": prompt, "chosen": " Rex" + shared, "rejected": " Max" + shared]),
      // Short: kept whole.
      try DataFixtures.line(["prompt": "Hi", "chosen": " yes", "rejected": " no"]),
    ]
    let path = try DataFixtures.temporaryFile(lines.joined(separator: "\n"))
    let dataset = try PreferenceDataset.load(
      path: path, encoder: ExampleEncoder(model: model, options: DataOptions(seqLen: seqLen, rawPairs: true)))
    let report = dataset.report
    #expect(dataset.pairs.map(\.line) == [3, 4])
    #expect(report.truncated == 3)
    #expect(report.droppedWithoutTargets == 1)
    #expect(report.droppedIdenticalAfterTruncation == 1)
    #expect(report.longest > seqLen)
    #expect(dataset.pairs.allSatisfy { $0.chosen.count <= seqLen && $0.rejected.count <= seqLen })
    #expect(report.summary.contains("1 dropped without trained tokens"))
    #expect(report.summary.contains("1 dropped as identical after truncation"))
  }

  @Test func missingEmptyAndUnusableFilesAreErrors() throws {
    let model = try DataFixtures.tinyModel()
    let encoder = ExampleEncoder(model: model)
    #expect(throws: TrainingError.unreadableFile(path: "/nonexistent/p.jsonl", reason: "No such file or directory")) {
      try PreferenceDataset.load(path: "/nonexistent/p.jsonl", encoder: encoder)
    }
    let blank = try DataFixtures.temporaryFile("\n \n")
    #expect {
      try PreferenceDataset.load(path: blank, encoder: encoder)
    } throws: { error in
      guard case .emptyDataset(let path, let reason) = error as? TrainingError else { return false }
      return path == blank && reason.contains("no records")
    }
    let allBad = try DataFixtures.temporaryFile("{}\n[]\n")
    #expect {
      try PreferenceDataset.load(
        path: allBad, encoder: ExampleEncoder(model: model, options: DataOptions(skipBadLines: true)))
    } throws: { error in
      guard case .emptyDataset(_, let reason) = error as? TrainingError else { return false }
      return reason.contains("all 2 records are bad lines")
    }
    let allDropped = try DataFixtures.temporaryFile(
      try DataFixtures.line(["prompt": String(repeating: "long prompt ", count: 20), "chosen": "a", "rejected": "b"]))
    #expect {
      try PreferenceDataset.load(
        path: allDropped, encoder: ExampleEncoder(model: model, options: DataOptions(seqLen: 8)))
    } throws: { error in
      guard case .emptyDataset(_, let reason) = error as? TrainingError else { return false }
      return reason.contains("1 pairs without trained tokens")
    }
    #expect(throws: TrainingError.self) {
      try PreferenceDataset.load(path: blank, encoder: ExampleEncoder(model: model, options: DataOptions(seqLen: 1)))
    }
  }

  // MARK: Splits

  /// 30 lines of 1 to 3 pairs each; a pair's tokens name its line and index.
  static func groupedDataset() -> PreferenceDataset {
    var pairs: [PreferencePair] = []
    for line in 1...30 {
      for k in 0..<(1 + line % 3) {
        let chosen = TrainingExample(tokens: [Int32(line), Int32(k), 1], lossMask: [false, true, true])
        let rejected = TrainingExample(tokens: [Int32(line), Int32(k), 2], lossMask: [false, true, true])
        pairs.append(PreferencePair(chosen: chosen, rejected: rejected, line: line))
      }
    }
    return PreferenceDataset(path: "grouped", pairs: pairs)
  }

  @Test func splitKeepsLineGroupsTogetherAndIsDeterministic() throws {
    let dataset = Self.groupedDataset()
    let first = try dataset.split(fraction: 0.2, seed: 7)
    let again = try dataset.split(fraction: 0.2, seed: 7)
    let other = try dataset.split(fraction: 0.2, seed: 8)
    #expect(first.train.pairs == again.train.pairs && first.validation.pairs == again.validation.pairs)
    #expect(first.validation.pairs != other.validation.pairs)
    let trainLines = Set(first.train.pairs.map(\.line))
    let validationLines = Set(first.validation.pairs.map(\.line))
    #expect(validationLines.count == 6 && trainLines.count == 24)
    #expect(trainLines.isDisjoint(with: validationLines))
    #expect(trainLines.union(validationLines) == Set(1...30))
    // Every pair of a line is on its line's side, in file order.
    #expect(first.train.count + first.validation.count == dataset.count)
    for line in validationLines {
      #expect(first.validation.pairs.filter { $0.line == line } == dataset.pairs.filter { $0.line == line })
    }
    #expect(first.train.pairs.map(\.line) == first.train.pairs.map(\.line).sorted())
    #expect(first.validation.report.pairs == first.validation.count)
    #expect(
      first.train.report.tokens == first.train.pairs.reduce(0) { $0 + $1.chosen.count + $1.rejected.count })
    #expect(throws: TrainingError.self) { try dataset.split(fraction: 0, seed: 7) }
    let oneLine = dataset.subset(dataset.pairs.indices.filter { dataset[$0].line == 2 })
    #expect(oneLine.count == 3)
    #expect(throws: TrainingError.self) { try oneLine.split(fraction: 0.5, seed: 1) }
  }
}
