import Formats
import Foundation
import Testing

@testable import Model

/// `JSONReader` and `JSONValue`: every escape, surrogate pairs, numbers, nesting, and malformed text (which must
/// throw, never trap); and the tokenizer.json loader built on them, against JSONSerialization's reading of the same
/// files.
struct TokenizerJSONReaderTests {
  func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
    try JSONValue(parsing: Array(text.utf8))
  }

  func fails(_ text: String) -> Bool {
    (try? parse(text)) == nil
  }

  @Test("every escape form, and UTF-8 kept as it is")
  func escapes() throws {
    #expect(try parse(#"["\"\\\/\b\f\n\r\t"]"#) == .array([.string("\"\\/\u{8}\u{C}\n\r\t")]))
    #expect(try parse(#"["\u0041\u00e9\u00E9\u4e2d\u0000"]"#) == .array([.string("Aéé中\u{0}")]))
    #expect(try parse(#"["Ġhé中😀"]"#) == .array([.string("Ġhé中😀")]))
    #expect(try parse(#"{"k\u0065y": "v"}"#) == .object(["key": .string("v")]))
  }

  @Test("surrogate pairs join; lone or reversed surrogates are errors")
  func surrogates() throws {
    #expect(try parse(#"["\ud83d\ude00"]"#) == .array([.string("😀")]))
    #expect(try parse(#"["\uD834\uDD1E x"]"#) == .array([.string("𝄞 x")]))
    for bad in [#"["\ud83d"]"#, #"["\ude00"]"#, #"["\ud83d\u0041"]"#, #"["\ude00\ud83d"]"#, #"["\ud83dx"]"#] {
      #expect(fails(bad), "\(bad)")
    }
  }

  @Test("malformed strings")
  func badStrings() {
    for bad in [#"["\x"]"#, #"["\u12"]"#, #"["\u12G4"]"#, "[\"a\u{1}b\"]", "[\"tab\there\"]", #"["open"#, #"["\"#] {
      #expect(fails(bad), "\(bad.debugDescription)")
    }
  }

  @Test("numbers follow the JSON grammar")
  func numbers() throws {
    let good: [(String, Double)] = [
      ("0", 0), ("-0", 0), ("12", 12), ("-3.5", -3.5), ("1e3", 1000), ("2.5E-2", 0.025), ("1E+2", 100),
      ("49151", 49151), ("123456789012345678", 123_456_789_012_345_678),
    ]
    for (text, value) in good { #expect(try parse("[\(text)]") == .array([.number(value)]), "\(text)") }
    for bad in ["01", "-", "1.", ".5", "+1", "1e", "1e+", "NaN", "Infinity", "-Infinity", "0x10", "1.2.3", "--1"] {
      #expect(fails("[\(bad)]"), "\(bad)")
    }
  }

  @Test("nested structures, literals and whitespace")
  func nesting() throws {
    let text = " {\"a\" : [1, {\"b\": null, \"c\": [true, false]}],\n\t\"d\": {}, \"e\": [], \"a2\": \"\"}\r\n"
    let expected: JSONValue = .object([
      "a": .array([.number(1), .object(["b": .null, "c": .array([.bool(true), .bool(false)])])]),
      "d": .object([:]), "e": .array([]), "a2": .string(""),
    ])
    #expect(try parse(text) == expected)
    #expect(try parse("\u{FEFF}{}") == .object([:]))
    #expect(try parse(#"{"k": 1, "k": 2}"#) == .object(["k": .number(2)]))
  }

  @Test("malformed documents")
  func malformed() {
    let bad = [
      "", " ", "{", "}", "[", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{\"a\" 1}", "[1 2]",
      "{} {}", "[] x", "tru", "[nul]", "[True]", "{'a': 1}", "[1]]",
    ]
    for text in bad { #expect(fails(text), "\(text.debugDescription)") }
  }

  @Test("every truncation of a document throws, never traps")
  func truncations() throws {
    let text = Array(
      #"{"a": [1, -2.5e3, true, false, null], "b\u00e9\ud83d\ude00": {"c": "x\"\\\/\b\f\n\r\t"}, "d": []}"#.utf8)
    _ = try JSONValue(parsing: text)
    for end in 0..<text.count {
      let prefix = Array(text[..<end])
      #expect((try? JSONValue(parsing: prefix)) == nil, "prefix of \(end) bytes")
      let valid = prefix.withUnsafeBufferPointer { buffer in (try? JSONReader.validate(buffer)) != nil }
      #expect(!valid, "prefix of \(end) bytes")
    }
  }

  @Test("nesting is refused beyond a fixed depth, without overflowing the stack")
  func depth() throws {
    let limit = JSONReader.maximumDepth
    let within = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
    #expect(!fails(within))
    let beyond = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
    #expect(fails(beyond))
    let huge = Array(String(repeating: "[{\"a\":", count: 200_000).utf8)
    #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: huge) }
    let loaded = Array(("{\"model\": " + String(repeating: "[", count: 100_000)).utf8)
    let refused = try #require(error(loaded))
    #expect(refused.kind == .invalidJSON && refused.message.contains("deeper"))
  }

  @Test("pulling members and elements one at a time")
  func pulling() throws {
    let text = Array(#" { "x" : [10, "y"] , "z\n" : {} } "#.utf8)
    try text.withUnsafeBufferPointer { buffer in
      var reader = JSONReader(buffer)
      try reader.beginObject()
      var count = 0
      var key: [UInt8] = []
      #expect(try reader.nextMember(&count, key: &key) && key == Array("x".utf8))
      #expect(buffer[reader.keyOffset] == UInt8(ascii: "\""))
      try reader.beginArray()
      var elements = 0
      #expect(try reader.nextElement(&elements) && reader.readNumber() == 10)
      #expect(try reader.nextElement(&elements) && reader.peek() == .string)
      try reader.skipString()
      #expect(try !reader.nextElement(&elements) && elements == 2)
      #expect(try reader.nextMember(&count, key: &key) && key == Array("z\n".utf8))
      #expect(try reader.readValue(depth: 1) == .object([:]))
      #expect(try !reader.nextMember(&count, key: &key) && count == 2)
    }
  }

  // MARK: the loader on top

  func error(_ bytes: [UInt8]) -> TokenizerError? {
    do {
      _ = try BPETokenizer(tokenizerJSON: bytes, source: "t.json")
      return nil
    } catch {
      return error as? TokenizerError
    }
  }

  /// `text` with every non-ASCII character written as `\u` escapes (surrogate pairs above U+FFFF).
  static func asciiEscaped(_ text: String) -> [UInt8] {
    var out = ""
    for unit in text.utf16 {
      if unit < 0x80 {
        out.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
      } else {
        out += String(format: "\\u%04x", unit)
      }
    }
    return Array(out.utf8)
  }

  @Test("a tokenizer.json with escaped strings loads to the same tokenizer")
  func escapedTokenizer() throws {
    let plain = try TokenizerJSONTests.tinyJSON()
    let original = try BPETokenizer(tokenizerJSON: plain, source: "t.json")
    let escaped = try BPETokenizer(
      tokenizerJSON: Self.asciiEscaped(String(decoding: plain, as: UTF8.self)), source: "t.json")
    #expect(escaped.tokens == original.tokens)
    #expect(escaped.mergeRules.elementsEqual(original.mergeRules) { $0 == $1 })
    #expect(escaped.encode("hello<|end|> hell") == original.encode("hello<|end|> hell"))
  }

  @Test("every truncation of a tokenizer.json is invalid JSON (or UTF-8), never a trap")
  func truncatedTokenizer() throws {
    let text = try TokenizerJSONTests.tinyJSON(merges: ["h e", "l l"])
    for end in stride(from: 0, to: text.count, by: 1) {
      let prefix = Array(text[..<end])
      let kind = error(prefix)?.kind
      let expected: TokenizerError.Kind =
        prefix.withUnsafeBufferPointer { JSONReader.firstInvalidUTF8($0) } == nil ? .invalidJSON : .invalidUTF8
      #expect(kind == expected, "prefix of \(end) bytes")
    }
  }

  @Test("shape errors keep their kinds and key paths")
  func shapeErrors() throws {
    func load(_ root: [String: Any]) -> TokenizerError? {
      error(try! [UInt8](JSONSerialization.data(withJSONObject: root)))
    }
    let vocab: [String: Any] = ["a": 0, "b": 1, "ab": 2]
    let model: [String: Any] = ["type": "BPE", "vocab": vocab, "merges": ["a b"]]
    let pre: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true]
    func with(_ change: (inout [String: Any], inout [String: Any]) -> Void) -> TokenizerError? {
      var root: [String: Any] = ["pre_tokenizer": pre, "decoder": NSNull(), "normalizer": NSNull()]
      var m = model
      change(&root, &m)
      root["model"] = m
      return load(root)
    }
    #expect(with { _, _ in } == nil)
    let wordPiece = with { _, m in m["type"] = "WordPiece" }
    #expect(wordPiece?.kind == .unsupported && wordPiece?.location == "model.type")
    #expect(with { _, m in m["byte_fallback"] = true }?.location == "model.byte_fallback")
    #expect(with { _, m in m["dropout"] = 0.1 }?.location == "model.dropout")
    #expect(with { _, m in m["end_of_word_suffix"] = "</w>" }?.location == "model.end_of_word_suffix")
    let listVocab = with { _, m in m["vocab"] = [1, 2] }
    #expect(listVocab?.kind == .invalidValue && listVocab?.location == "model.vocab")
    let noMerges = with { _, m in m["merges"] = nil }
    #expect(noMerges?.kind == .missingKey && noMerges?.location == "model.merges")
    let textMerges = with { _, m in m["merges"] = "a b" }
    #expect(textMerges?.kind == .invalidValue && textMerges?.location == "model.merges")
    let badPair = with { _, m in m["merges"] = ["a b", ["a", "b", "c"]] }
    #expect(badPair?.kind == .invalidValue && badPair?.location == "model.merges[1]")
    let numberPair = with { _, m in m["merges"] = [["a", 1]] }
    #expect(numberPair?.location == "model.merges[0]")
    let badID = with { _, m in m["vocab"] = ["a": 0, "b": -1, "ab": 2] }
    #expect(badID?.kind == .invalidValue && badID?.location == "model.vocab[\"b\"]")
    let gap = with { _, m in m["vocab"] = ["a": 0, "b": 1, "ab": 3] }
    #expect(gap?.kind == .invalidValue && gap?.message.contains("no token has id 2") == true)
    let farGap = with { _, m in m["vocab"] = ["a": 0, "b": 1, "ab": 2_000_000_000] }
    #expect(farGap?.message.contains("no token has id 2,") == true)
    #expect(with { _, m in m["vocab"] = ["a": 0.0, "b": 1, "ab": 2] } == nil)
    let added = with { root, _ in root["added_tokens"] = [["id": 3, "content": "<s>", "special": "yes"]] }
    #expect(added?.kind == .invalidValue && added?.location == "added_tokens[0].special")
    #expect(with { root, _ in root["added_tokens"] = [["id": 3, "content": "<s>", "special": 1]] } == nil)
    let unk = with { _, m in m["unk_token"] = "<unk>" }
    #expect(unk?.kind == .unknownToken && unk?.location == "model.unk_token")
    let normalizer = with { root, _ in root["normalizer"] = ["type": "Lowercase"] }
    #expect(normalizer?.kind == .unsupported && normalizer?.message.contains("Lowercase") == true)
    let decoder = with { root, _ in root["decoder"] = ["type": "WordPiece"] }
    #expect(decoder?.kind == .unsupported && decoder?.location == "decoder")
    let empty = with { _, m in
      m["vocab"] = [String: Any]()
      m["merges"] = [Any]()
    }
    #expect(empty?.kind == .invalidValue && empty?.location == "vocabulary")
    let notJSON = try #require(error(Array(#"{"model": {"vocab": {"a": 0,}}}"#.utf8)))
    #expect(notJSON.kind == .invalidJSON && notJSON.location == "byte 28")
    #expect(error(Array("7".utf8))?.kind == .invalidJSON)
    #expect(error(Array("[]".utf8))?.kind == .invalidValue)
  }

  @Test(
    "SmolLM2's tokenizer.json gives the vocabulary and merges JSONSerialization reads",
    .enabled(if: FileManager.default.fileExists(atPath: TokenizerFixtures.tokenizerJSONPath)))
  func matchesFoundation() throws {
    let bytes = try TokenizerFixtures.bytes(TokenizerFixtures.tokenizerJSONPath)
    let tokenizer = try BPETokenizer(tokenizerJSON: bytes, source: "smollm2.json")
    let root = try #require(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    let model = try #require(root["model"] as? [String: Any])
    let vocab = try #require(model["vocab"] as? [String: Int])
    #expect(vocab.count == tokenizer.vocabularySize)
    for (token, id) in vocab {
      #expect(tokenizer.token(of: Int32(id)) == token && tokenizer.id(of: token) == Int32(id), "\(token)")
    }
    let merges = try #require(model["merges"] as? [Any])
    let rules = tokenizer.mergeRules
    #expect(rules.count == merges.count)
    for (rule, merge) in zip(rules, merges) {
      let pair = (merge as? [String]) ?? (merge as? String)?.split(separator: " ").map(String.init) ?? []
      #expect(pair == [rule.left, rule.right])
    }
  }
}
