import Formats
import Foundation
import Testing

@testable import Model

/// `tokenizerJSON()` and `ggufMetadata()`: each exported tokenizer, loaded back by our own loaders and by the Python
/// `tokenizers` library, must give the ids and text of the original on the golden texts and the whole corpus.
/// Tiny fixtures cover every pre-tokenizer kind (two are the llama-mixed vocabulary relabelled), BOS post-processing
/// and NFC; SmolLM2's real vocabulary runs when the model is present.
@Suite struct TokenizerExportTests {
  enum Variant: String, CaseIterable, CustomTestStringConvertible {
    /// Qwen2 split regex with NFC, from a tokenizer.json written by `tokenizers`.
    case qwen2JSON = "qwen2-hf/tokenizer.json"
    /// Qwen2 split regex from GGUF arrays (no NFC).
    case qwen2GGUF = "qwen2.tiny-gguf"
    /// GPT-2 ByteLevel regex from GGUF arrays, EOS only.
    case gpt2GGUF = "llama-mixed.tiny-gguf"
    /// The llama-mixed arrays as SmolLM2 (digits isolated).
    case smollm = "llama-mixed as smollm"
    /// The llama-mixed arrays as Llama 3 (ignore_merges) with its first control token as BOS, added.
    case llama3BOS = "llama-mixed as llama3 with BOS"

    var testDescription: String { rawValue }

    func tokenizer() throws -> BPETokenizer {
      let directory = ModelFixtures.directory.appendingPathComponent("tiny")
      switch self {
      case .qwen2JSON:
        let path = directory.appendingPathComponent(rawValue).path
        return try BPETokenizer(tokenizerJSON: TokenizerFixtures.bytes(path), source: path)
      case .qwen2GGUF, .gpt2GGUF:
        return try LanguageModel.tokenizer(gguf: GGUFFile(path: directory.appendingPathComponent(rawValue).path))
      case .smollm, .llama3BOS:
        let base = try Variant.gpt2GGUF.tokenizer()
        let bos = base.tokenTypes.firstIndex(of: 3).map(Int32.init)
        return try BPETokenizer(
          tokens: base.tokens, merges: base.mergeRules.map { $0.left + " " + $0.right }, tokenTypes: base.tokenTypes,
          preTokenizer: self == .smollm ? .smollm : .llama3, bosID: self == .llama3BOS ? bos : nil,
          eosID: base.eosID, unknownID: nil, paddingID: nil, addBOS: self == .llama3BOS, source: rawValue)
      }
    }
  }

  /// The golden cases' texts and the whole corpus.
  static let texts: Result<[String], any Error> = Result {
    let corpus = try String(
      contentsOf: TokenizerFixtures.directory.appendingPathComponent("tokenizer_corpus.txt"), encoding: .utf8)
    return try TokenizerFixtures.golden.get().cases.map(\.text) + [corpus]
  }

  /// Checks that `exported` encodes and decodes every text as `original` does.
  static func expectSameEncoding(
    _ original: BPETokenizer, _ exported: BPETokenizer, normalize: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    for text in try texts.get() {
      let input = normalize ? text.precomposedStringWithCanonicalMapping : text
      let ids = original.encode(input)
      #expect(exported.encode(input) == ids, "\(caseLabel(text))", sourceLocation: sourceLocation)
      #expect(exported.decodeBytes(ids) == original.decodeBytes(ids), sourceLocation: sourceLocation)
    }
  }

  @Test(arguments: Variant.allCases)
  func tokenizerJSONRoundTrips(variant: Variant) throws {
    let original = try variant.tokenizer()
    let reloaded = try BPETokenizer(tokenizerJSON: original.tokenizerJSON(), source: "exported.json")
    #expect(reloaded.vocabularySize == original.vocabularySize)
    #expect(reloaded.preTokenizer == original.preTokenizer && reloaded.normalizeNFC == original.normalizeNFC)
    #expect(reloaded.ignoreMerges == original.ignoreMerges)
    #expect(reloaded.addBOS == original.addBOS && reloaded.bosID == (original.addBOS ? original.bosID : nil))
    #expect(reloaded.specialFlags == original.specialFlags)
    #expect(reloaded.tokens == original.tokens)
    #expect(reloaded.mergeRules.elementsEqual(original.mergeRules) { $0 == $1 })
    try Self.expectSameEncoding(original, reloaded)
    // Exporting the reloaded tokenizer gives the same bytes: the export is a fixed point.
    #expect(try reloaded.tokenizerJSON() == original.tokenizerJSON())
  }

  @Test("ggufMetadata written by GGUFWriter loads back through the GGUF loader", arguments: Variant.allCases)
  func ggufMetadataRoundTrips(variant: Variant) throws {
    let original = try variant.tokenizer()
    let metadata = original.ggufMetadata()
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString).gguf").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let writer = try GGUFWriter(path: path, metadata: metadata, tensors: [])
    try writer.finish()
    let file = try GGUFFile(path: path)
    #expect(file.metadataKeys == metadata.map(\.0))
    let reloaded = try LanguageModel.tokenizer(gguf: file)
    #expect(reloaded.tokens == original.tokens && reloaded.tokenTypes == original.tokenTypes)
    #expect(reloaded.preTokenizer == original.preTokenizer && reloaded.ignoreMerges == original.ignoreMerges)
    #expect(reloaded.bosID == original.bosID && reloaded.eosID == original.eosID)
    #expect(reloaded.unknownID == original.unknownID && reloaded.paddingID == original.paddingID)
    #expect(reloaded.addBOS == original.addBOS)
    // GGUF has no normalizer: compare on NFC text when the original normalizes.
    try Self.expectSameEncoding(original, reloaded, normalize: original.normalizeNFC)
  }

  @Test("pre-tokenizer JSON has the shapes the loader recognizes", arguments: PreTokenizerKind.allCases)
  func preTokenizerShapes(kind: PreTokenizerKind) throws {
    let json = Array(BPETokenizer.preTokenizerJSON(kind).utf8)
    #expect(try JSONShape(source: "test").preTokenizer(JSONValue(parsing: json)) == kind)
  }

  @Test("a vocabulary with a repeated string cannot be exported as tokenizer.json")
  func duplicateTokens() throws {
    let tokens = (0..<256).map { ByteLevel.encode([UInt8($0)]) } + ["<pad>", "<pad>"]
    let tokenizer = try BPETokenizer(
      tokens: tokens, merges: [], tokenTypes: nil, preTokenizer: .gpt2, bosID: nil, eosID: nil, unknownID: nil,
      paddingID: nil, addBOS: false, source: "dup.gguf")
    #expect(throws: TokenizerError.self) { try tokenizer.tokenizerJSON() }
  }

  // MARK: the Python `tokenizers` library

  /// The reference tools' Python: $EDGETUNE_PYTHON (Tools/test exports it), else the venv Tools/test makes in the
  /// user's cache.
  static let python =
    ProcessInfo.processInfo.environment["EDGETUNE_PYTHON"] ?? NSHomeDirectory() + "/.cache/edgetune/venv/bin/python"
  /// Where Tools/test runs (EDGETUNE_REQUIRE_MODEL=1) the check must run, and fail without its Python, never skip.
  static let pythonRequired = ProcessInfo.processInfo.environment["EDGETUNE_REQUIRE_MODEL"] == "1"
  static let havePythonTokenizers: Bool = {
    if pythonRequired { return true }
    guard FileManager.default.isExecutableFile(atPath: python) else { return false }
    return (try? runPython("import tokenizers", [])) != nil
  }()

  /// Runs a Python snippet with `arguments` as `sys.argv[1...]`; returns stdout, throws on a non-zero exit.
  static func runPython(_ script: String, _ arguments: [String]) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", script] + arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    let stderr = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw CocoaError(
        .fileReadUnknown,
        userInfo: [NSLocalizedDescriptionKey: "python failed: " + String(decoding: stderr, as: UTF8.self)])
    }
    return stdout
  }

  struct PythonResult: Decodable {
    var ids: [[Int32]]
    var decoded: [String]
    var withSpecial: [Int32]
  }

  /// Encodes `texts` with `tokenizers` from the exported file (no added specials), decodes the ids back, and encodes
  /// the first text with the post-processor's specials.
  static func pythonEncode(_ tokenizer: BPETokenizer, _ texts: [String]) throws -> PythonResult {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let jsonPath = directory.appendingPathComponent("tokenizer.json")
    let textsPath = directory.appendingPathComponent("texts.json")
    try Data(try tokenizer.tokenizerJSON()).write(to: jsonPath)
    try JSONEncoder().encode(texts).write(to: textsPath)
    let script = """
      import json, sys
      from tokenizers import Tokenizer
      t = Tokenizer.from_file(sys.argv[1])
      texts = json.load(open(sys.argv[2], encoding="utf-8"))
      ids = [t.encode(x, add_special_tokens=False).ids for x in texts]
      print(json.dumps({"ids": ids, "decoded": [t.decode(i, skip_special_tokens=False) for i in ids],
                        "withSpecial": t.encode(texts[0]).ids}))
      """
    let output = try runPython(script, [jsonPath.path, textsPath.path])
    return try JSONDecoder().decode(PythonResult.self, from: output)
  }

  @Test(
    "Python tokenizers loads the export and gives the same ids and text",
    .enabled(if: havePythonTokenizers, "needs the venv with tokenizers (Tools/reference/requirements.txt)"),
    arguments: Variant.allCases)
  func pythonMatches(variant: Variant) throws {
    let tokenizer = try variant.tokenizer()
    let texts = try Self.texts.get()
    let result = try Self.pythonEncode(tokenizer, texts)
    try #require(result.ids.count == texts.count)
    for (text, ids) in zip(texts, result.ids) {
      let expected = tokenizer.encode(text)
      #expect(ids == expected, "\(caseLabel(text))")
    }
    for (ids, decoded) in zip(result.ids, result.decoded) { #expect(decoded == tokenizer.decode(ids)) }
    let first = tokenizer.encode(texts[0])
    #expect(result.withSpecial == (tokenizer.addBOS ? [tokenizer.bosID!] + first : first))
  }

  @Test(
    "SmolLM2's exported tokenizer.json gives the golden ids, in Swift and in Python", .enabled(if: smolLM2Available))
  func smolLM2() throws {
    let original = try smolLM2Tokenizer()
    let cases = try TokenizerFixtures.golden.get().cases
    let reloaded = try BPETokenizer(tokenizerJSON: original.tokenizerJSON(), source: "smollm2-exported.json")
    #expect(reloaded.vocabularySize == 49152 && reloaded.preTokenizer == .smollm)
    for item in cases {
      #expect(reloaded.encode(item.text) == item.ids, "case \(caseLabel(item.text))")
    }
    try Self.expectSameEncoding(original, reloaded)
    // The GGUF arrays and ids are the model file's own, value for value and type for type.
    let gguf = try GGUFFile(path: ModelFixtures.ggufPath)
    for (key, value) in original.ggufMetadata() { #expect(gguf.metadata[key] == value, "\(key)") }
    // The tokenizer.json is the one `tokenizers` made for the HF copy, key for key.
    let hfPath = TokenizerFixtures.tokenizerJSONPath
    if FileManager.default.fileExists(atPath: hfPath) {
      let ours = try JSONSerialization.jsonObject(with: Data(original.tokenizerJSON())) as? NSDictionary
      let theirs = try JSONSerialization.jsonObject(with: Data(TokenizerFixtures.bytes(hfPath))) as? NSDictionary
      #expect(ours != nil && ours == theirs)
    }
    guard Self.havePythonTokenizers else { return }  // true wherever Tools/test runs
    let result = try Self.pythonEncode(original, cases.map(\.text))
    for (item, ids) in zip(cases, result.ids) { #expect(ids == item.ids, "python, case \(caseLabel(item.text))") }
  }
}
