import Foundation
import Testing

@testable import Model

/// The tokenizer.json loader on a tiny synthetic vocabulary: shapes it accepts and the errors it gives.
struct TokenizerJSONTests {
  /// A byte-level BPE over all 256 byte symbols plus "he", "ll", "hell", "hello"; ids follow in that order.
  static func tinyJSON(
    merges: Any = [["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"]],
    preTokenizer: Any = ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
    dropVocab: Bool = false, dropModel: Bool = false
  ) throws -> [UInt8] {
    var vocab: [String: Int] = [:]
    for byte in 0..<256 { vocab[ByteLevel.encode([UInt8(byte)])] = byte }
    for (offset, token) in ["he", "ll", "hell", "hello"].enumerated() { vocab[token] = 256 + offset }
    var model: [String: Any] = ["type": "BPE", "merges": merges, "unk_token": NSNull()]
    if !dropVocab { model["vocab"] = vocab }
    var root: [String: Any] = [
      "version": "1.0", "pre_tokenizer": preTokenizer, "decoder": ["type": "ByteLevel"],
      "added_tokens": [["id": 260, "content": "<|end|>", "special": true, "lstrip": false, "rstrip": false]],
    ]
    if !dropModel { root["model"] = model }
    return [UInt8](try JSONSerialization.data(withJSONObject: root))
  }

  func error(_ bytes: [UInt8]) -> TokenizerError? {
    do {
      _ = try BPETokenizer(tokenizerJSON: bytes, source: "tiny.json")
      return nil
    } catch let error as TokenizerError {
      return error
    } catch {
      Issue.record("unexpected error type: \(error)")
      return nil
    }
  }

  @Test("a well-formed tiny tokenizer encodes by merge rank")
  func tinyTokenizer() throws {
    let tokenizer = try BPETokenizer(tokenizerJSON: Self.tinyJSON(), source: "tiny.json")
    #expect(tokenizer.vocabularySize == 261)
    #expect(tokenizer.encode("hello") == [259])
    #expect(tokenizer.encode("hellx<|end|>") == [258, 120, 260])
    #expect(tokenizer.encode(" hell") == [32, 258])
    #expect(tokenizer.isSpecial(260) && !tokenizer.isSpecial(259))
    #expect(tokenizer.bosID == nil && !tokenizer.addBOS)
    let legacy = try BPETokenizer(
      tokenizerJSON: Self.tinyJSON(merges: ["h e", "l l", "he ll", "hell o"]), source: "tiny.json")
    #expect(legacy.encode("hello") == [259])
  }

  @Test("invalid UTF-8 is reported with its byte offset")
  func invalidUTF8() throws {
    var bytes = Array(#"{"model": "#.utf8)
    bytes += [0xC3, 0x28]
    let found = try #require(error(bytes))
    #expect(found.kind == .invalidUTF8)
    #expect(found.location == "byte 10")
    #expect(found.description.contains("tiny.json"))
  }

  @Test("text that is not JSON")
  func notJSON() throws {
    #expect(error(Array("{ not json".utf8))?.kind == .invalidJSON)
    #expect(error(Array("[1, 2]".utf8))?.kind == .invalidValue)
  }

  @Test("missing model or vocabulary")
  func missingKeys() throws {
    let noModel = try #require(error(Self.tinyJSON(dropModel: true)))
    #expect(noModel.kind == .missingKey && noModel.location == "model")
    let noVocab = try #require(error(Self.tinyJSON(dropVocab: true)))
    #expect(noVocab.kind == .missingKey && noVocab.location == "model.vocab")
  }

  @Test("merges naming unknown tokens")
  func unknownMerge() throws {
    let unknown = try #require(error(Self.tinyJSON(merges: [["h", "e"], ["zz", "l"]])))
    #expect(unknown.kind == .unknownToken && unknown.location == "model.merges[1]")
    #expect(unknown.message.contains("zz"))
    let result = try #require(error(Self.tinyJSON(merges: [["h", "x"]])))
    #expect(result.kind == .unknownToken && result.message.contains("hx"))
    let malformed = try #require(error(Self.tinyJSON(merges: ["hello"])))
    #expect(malformed.kind == .invalidValue && malformed.location == "model.merges[0]")
  }

  @Test("unsupported pre-tokenizers are named")
  func unsupportedPreTokenizer() throws {
    let metaspace = try #require(error(Self.tinyJSON(preTokenizer: ["type": "Metaspace", "replacement": "▁"])))
    #expect(metaspace.kind == .unsupported && metaspace.message.contains("Metaspace"))
    let split: [String: Any] = [
      "type": "Sequence",
      "pretokenizers": [
        ["type": "Split", "pattern": ["Regex": "\\w+"], "behavior": "Isolated", "invert": false],
        ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false],
      ],
    ]
    let regex = try #require(error(Self.tinyJSON(preTokenizer: split)))
    #expect(regex.kind == .unsupported && regex.message.contains("\\w+"))
  }

  @Test("recognized pre-tokenizer shapes")
  func recognizedShapes() throws {
    func kind(_ pre: Any) throws -> PreTokenizerKind {
      try BPETokenizer(tokenizerJSON: Self.tinyJSON(preTokenizer: pre), source: "tiny.json").preTokenizer
    }
    let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false]
    func splitting(_ pattern: String) -> [String: Any] {
      [
        "type": "Sequence",
        "pretokenizers": [
          ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false], byteLevel,
        ],
      ]
    }
    #expect(try kind(splitting(JSONShape.qwen2Pattern)) == .qwen2)
    #expect(try kind(splitting(JSONShape.llama3Pattern)) == .llama3)
    let digits: [String: Any] = [
      "type": "Sequence",
      "pretokenizers": [
        ["type": "Digits", "individual_digits": true],
        ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
      ],
    ]
    #expect(try kind(digits) == .smollm)
  }

  @Test("GGUF-array initializer errors")
  func ggufErrors() throws {
    let tokens = (0..<256).map { ByteLevel.encode([UInt8($0)]) } + ["he"]
    func build(merges: [String], types: [Int32]? = nil, bos: Int32? = nil) throws {
      _ = try BPETokenizer(
        tokens: tokens, merges: merges, tokenTypes: types, preTokenizer: .gpt2, bosID: bos, eosID: nil,
        unknownID: nil, paddingID: nil, addBOS: false, source: "m.gguf")
    }
    #expect(throws: TokenizerError.self) { try build(merges: ["he"]) }
    #expect(throws: TokenizerError.self) { try build(merges: ["h e"], types: [1]) }
    #expect(throws: TokenizerError.self) { try build(merges: ["h e"], bos: 999) }
    do {
      try build(merges: ["h e", "q z"])
      Issue.record("expected an error")
    } catch let error as TokenizerError {
      #expect(error.kind == .unknownToken && error.location == "tokenizer.ggml.merges[1]")
    }
    try build(merges: ["h e"])
  }

  @Test(
    "SmolLM2's tokenizer.json (written by make_tokenizer_goldens.py) matches HF's ids",
    .enabled(if: FileManager.default.fileExists(atPath: TokenizerFixtures.tokenizerJSONPath)))
  func smolLM2TokenizerJSON() throws {
    let path = TokenizerFixtures.tokenizerJSONPath
    let tokenizer = try BPETokenizer(tokenizerJSON: TokenizerFixtures.bytes(path), source: path)
    #expect(tokenizer.preTokenizer == .smollm && tokenizer.vocabularySize == 49152)
    #expect((0..<17).allSatisfy { tokenizer.isSpecial(Int32($0)) } && !tokenizer.isSpecial(17))
    for item in try TokenizerFixtures.golden.get().cases {
      #expect(tokenizer.encode(item.text) == item.ids, "case \(caseLabel(item.text))")
    }
  }
}
