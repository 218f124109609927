import Formats
import Foundation
import Testing

/// The safetensors header parser (`SafetensorsFile+Header.swift`, a `JSONReader` walk): metadata strings with every
/// escape, entries, repeated keys, the errors of truncated and mistyped headers, and a differential test against
/// the JSONSerialization reading it replaced.
@Suite struct SafetensorsHeaderTests {
  /// Opens a file made of `json` as its header and `data`; the error, if any, must be a `FormatError` naming the file.
  func open(_ json: String, data: [UInt8] = [0, 0, 0, 0]) throws -> Result<SafetensorsFile, FormatError> {
    try open(header: Array(json.utf8), data: data)
  }

  func open(header: [UInt8], data: [UInt8] = [0, 0, 0, 0]) throws -> Result<SafetensorsFile, FormatError> {
    try withTemporaryDirectory { dir in
      let path = try dir.write(SafetensorsTestWriter.file(header: header, data: data), to: "h.safetensors")
      do {
        return .success(try SafetensorsFile(path: path))
      } catch let error as FormatError {
        #expect(error.description.contains(path), "\(error)")
        return .failure(error)
      }
    }
  }

  func error(_ json: String, data: [UInt8] = [0, 0, 0, 0]) throws -> FormatError? {
    if case .failure(let error) = try open(json, data: data) { return error }
    return nil
  }

  static let u8 = "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}"

  @Test func metadataStringsWithEveryEscape() throws {
    let json = #"""
      {"__metadata__": {"plain": "abc", "escapes": "q\" b\\ s\/ \b\f\n\r\t",
        "bmp": "\u00e9\u4e2d\uFFFF", "pair": "\ud83d\ude00 \uD834\uDD1E", "raw": "é中😀", "nul": "a\u0000b",
        "\u006b\u00e9y": "escaped key", "empty": ""},
       "w": \#(Self.u8)}
      """#
    let file = try open(json).get()
    #expect(
      file.metadata == [
        "plain": "abc", "escapes": "q\" b\\ s/ \u{8}\u{C}\n\r\t", "bmp": "\u{E9}\u{4E2D}\u{FFFF}",
        "pair": "\u{1F600} \u{1D11E}", "raw": "é中😀", "nul": "a\u{0}b", "kéy": "escaped key", "empty": "",
      ])
    #expect(file.entries.map(\.name) == ["w"])
  }

  /// A tokenizer.json-sized value (an .nf4 header's): JSON-escaped text decodes to the original, as JSONSerialization
  /// decodes it.
  @Test func largeEscapedMetadataValue() throws {
    var text = ""
    var rng = SplitMix64(seed: 7)
    let pieces = ["\"quoted\"", "back\\slash", "é", "中", "😀", "\n", "\t", "\u{1}", "plain text ", "{\"a\": [1, 2]}"]
    while text.utf8.count < 1 << 20 { text += pieces.randomElement(using: &rng)! }
    let escaped = try #require(String(data: JSONSerialization.data(withJSONObject: [text]), encoding: .utf8))
    let json = "{\"__metadata__\":{\"big\":\(escaped.dropFirst().dropLast())},\"w\":\(Self.u8)}"
    let file = try open(json).get()
    #expect(file.metadata["big"] == text)
  }

  @Test func entriesIgnoreUnknownKeysAndAcceptIntegralNumbers() throws {
    // 1.0 and 1e0 are integers to JSONSerialization's NSNumber too; extra keys are ignored, as before.
    let json = """
      { "a" : {"dtype": "U8", "shape": [1.0, 2e0], "data_offsets": [0, 2], "extra": {"x": [null]}},
        "b": {"data_offsets": [2, 4], "shape": [1], "dtype": "F16"}, "empty": {"dtype": "F32", "shape": [0],
        "data_offsets": [4, 4]}, "__metadata__": {} }\("    ")
      """
    let file = try open(json, data: [1, 2, 3, 4]).get()
    #expect(file.metadata.isEmpty)
    #expect(file.entries.map(\.name) == ["a", "b", "empty"])
    #expect(file.entry("a")?.shape == [1, 2])
    #expect(file.entry("empty")?.range == (file.dataOffset + 4)..<(file.dataOffset + 4))
    #expect(try open("{}", data: []).get().entries.isEmpty)
  }

  /// A repeated key keeps its last value, as JSONSerialization did: at the top level, in `__metadata__`, in an entry.
  @Test func repeatedKeysKeepTheLastValue() throws {
    let bad = "{\"dtype\":\"U8\",\"shape\":[9],\"data_offsets\":[0,1]}"
    #expect(try open("{\"w\":\(bad),\"w\":\(Self.u8)}").get().entry("w")?.shape == [1])
    #expect(try error("{\"w\":\(Self.u8),\"w\":\(bad)}")?.caseName == "invalidShape")
    let metadata = try open("{\"__metadata__\":{\"k\":1,\"k\":\"s\",\"j\":\"a\",\"j\":\"b\"},\"w\":\(Self.u8)}").get()
    #expect(metadata.metadata == ["k": "s", "j": "b"])
    #expect(try error("{\"__metadata__\":{\"k\":\"s\",\"k\":1}}")?.caseName == "invalidHeader")
    #expect(try error("{\"__metadata__\":[],\"__metadata__\":{\"k\":\"v\"}}") == nil)
    let inner = try open("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1],\"dtype\":\"U8\"}}").get()
    #expect(inner.entry("w")?.dtype == "U8")
  }

  @Test func everyTruncationIsAnError() throws {
    let json = Array("{\"__metadata__\":{\"k\":\"v\\u00e9\\ud83d\\ude00\"},\"w\":\(Self.u8)}".utf8)
    for end in 0..<json.count {
      guard case .failure(let error) = try open(header: Array(json[..<end])) else {
        Issue.record("prefix of \(end) bytes opened")
        continue
      }
      let expected = end < 2 ? "invalidHeader" : "invalidJSON"
      #expect(error.caseName == expected, "prefix of \(end) bytes: \(error)")
    }
  }

  /// Syntax and UTF-8 errors give the file offset (8 + the offset in the header).
  @Test func syntaxErrorsNameTheFileOffset() throws {
    let truncatedWord = try #require(try error("{\"a\": tru}"))
    #expect(truncatedWord.caseName == "invalidJSON" && truncatedWord.description.contains("at byte 14"))
    let utf8 = try #require(try open(header: Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)).error)
    #expect(utf8.caseName == "invalidJSON" && utf8.description.contains("invalid UTF-8 at byte 14"))
    let entry = try #require(try error("{\"w\": [1, 2]}"))
    #expect(entry.description.contains("invalid header at byte 14") && entry.description.contains("'w'"))
  }

  @Test(arguments: [
    // Not an object where one is needed.
    (#"{"__metadata__": "x"}"#, "invalidHeader"), (#"{"__metadata__": null}"#, "invalidHeader"),
    (#"{"__metadata__": {"k": null}}"#, "invalidHeader"), (#"{"__metadata__": {"k": ["v"]}}"#, "invalidHeader"),
    (#"{"__metadata__": {"k": {"v": "w"}}}"#, "invalidHeader"), (#"{"w": null}"#, "invalidHeader"),
    (#"{"w": "U8"}"#, "invalidHeader"), (#"{"w": 3}"#, "invalidHeader"),
    // Fields missing or of the wrong type.
    (#"{"w": {}}"#, "invalidHeader"),
    (#"{"w": {"dtype": null, "shape": [1], "data_offsets": [0, 1]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": ["U8"], "shape": [1], "data_offsets": [0, 1]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": {"0": 1}, "data_offsets": [0, 1]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": "0,1"}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": {"begin": 0, "end": 1}}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": []}}"#, "invalidHeader"),
    // Offsets that are not non-negative integers, or out of order, or past Int.
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1.5]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [-0.5, 1]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [-4, -3]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [null, 1]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [false, true]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [[0], 1]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 9223372036854775808]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 18446744073709551616]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1e400]}}"#, "invalidHeader"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, -1e400]}}"#, "invalidHeader"),
    (
      #"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [9007199254740993, 9007199254740994]}}"#,
      "tensorOutOfBounds"
    ),
    // Dimensions that are not non-negative integers.
    (#"{"w": {"dtype": "U8", "shape": [true], "data_offsets": [0, 1]}}"#, "invalidShape"),
    (#"{"w": {"dtype": "U8", "shape": [null], "data_offsets": [0, 1]}}"#, "invalidShape"),
    (#"{"w": {"dtype": "U8", "shape": [[1]], "data_offsets": [0, 1]}}"#, "invalidShape"),
    (#"{"w": {"dtype": "U8", "shape": [9223372036854775808], "data_offsets": [0, 1]}}"#, "invalidShape"),
    (#"{"w": {"dtype": "U8", "shape": [1e400], "data_offsets": [0, 1]}}"#, "invalidShape"),
    (#"{"w": {"dtype": "U8", "shape": [-0.0001], "data_offsets": [0, 1]}}"#, "invalidShape"),
    // Syntax the JSON grammar refuses (RFC 8259): the reader is strict where JSONSerialization was.
    (#"{"w": {"dtype": "U8", "shape": [01], "data_offsets": [0, 1]}}"#, "invalidJSON"),
    (#"{"w": {"dtype": "U8", "shape": [+1], "data_offsets": [0, 1]}}"#, "invalidJSON"),
    (#"{"w": {"dtype": "U8", "shape": [1,], "data_offsets": [0, 1]}}"#, "invalidJSON"),
    (#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},}"#, "invalidJSON"),
    (#"{"w": {"dtype": 'U8', "shape": [1], "data_offsets": [0, 1]}}"#, "invalidJSON"),
    (#"{"w": {"dtype": "U8", "shape": [NaN], "data_offsets": [0, 1]}}"#, "invalidJSON"),
    (#"{"__metadata__": {"k": "\x"}}"#, "invalidJSON"), (#"{"__metadata__": {"k": "\u12"}}"#, "invalidJSON"),
    (#"{"__metadata__": {"k": "\udc00"}}"#, "invalidJSON"),
    (#"{"__metadata__": {"k": "\ud800\u0041"}}"#, "invalidJSON"),
    (#"{"__metadata__": {k: "v"}}"#, "invalidJSON"), (#"{"a": 1} {"b": 2}"#, "invalidJSON"),
  ])
  func badHeaders(json: String, caseName: String) throws {
    let error = try #require(try error(json), "\(json) opened")
    #expect(error.caseName == caseName, "\(json): \(error)")
    if json.hasPrefix("{\"w\"") && caseName != "invalidJSON" { #expect(error.description.contains("'w'"), "\(error)") }
  }

  // MARK: against the JSONSerialization reading it replaced

  /// The previous reading of a header, with JSONSerialization and NSNumber (as `SafetensorsFile` did before it walked
  /// the header with `JSONReader`): the metadata and each entry's dtype, shape and data offsets, or nil when it
  /// refused the header. The byte-size checks that follow it are shared code and are left out.
  static func reference(_ header: [UInt8], dataSize: Int) -> (metadata: [String: String], entries: [String: [Int]])? {
    guard header.first == UInt8(ascii: "{"),
      let object = (try? JSONSerialization.jsonObject(with: Data(header))) as? [String: Any]
    else { return nil }
    func integer(_ value: Any) -> Int? { (value as? NSNumber).flatMap { Int(exactly: $0.doubleValue) } }
    var metadata: [String: String] = [:]
    var entries: [String: [Int]] = [:]
    for (name, value) in object {
      if name == "__metadata__" {
        guard let pairs = value as? [String: Any] else { return nil }
        for (key, value) in pairs {
          guard let text = value as? String else { return nil }
          metadata[key] = text
        }
        continue
      }
      guard let fields = value as? [String: Any], fields["dtype"] is String, let shape = fields["shape"] as? [Any],
        let offsets = fields["data_offsets"] as? [Any], offsets.count == 2
      else { return nil }
      let dims = shape.compactMap { integer($0).flatMap { $0 >= 0 ? $0 : nil } }
      guard dims.count == shape.count, let begin = integer(offsets[0]), let end = integer(offsets[1]), begin >= 0,
        begin <= end, end <= dataSize
      else { return nil }
      entries[name] = dims + [begin, end]
    }
    return (metadata, entries)
  }

  /// Mutated headers (the fuzz test's mutations, with the true header length): whatever the new parser opens, the
  /// old one opened to the same metadata, shapes and offsets; whatever the old one opened and the new one refuses
  /// is a byte-size check both make, a boolean used as a number (NSNumber took `true` as 1), or a trailing comma
  /// (Foundation on Linux accepts `[1,]`; RFC 8259 and serde_json, safetensors' own reader, do not).
  @Test func agreesWithJSONSerialization() throws {
    var rng = SplitMix64(seed: 0x4849_4452 &+ FormatsFuzzTests.seedOffset)
    var base = SafetensorsTestWriter.sample()
    base.metadata?["escaped"] = "é \u{1F600} \"quoted\" back\\slash"
    let json = Array(base.headerJSON().utf8)
    let data = base.tensors.flatMap(\.data)
    var opened = 0
    try withTemporaryDirectory { dir in
      for iteration in 0..<3000 * FormatsFuzzTests.scale {
        var header = json
        FormatsFuzzTests.mutate(
          &header, edits: 1...2, deleteUpTo: 4,
          numbers: ["1.0", "-8", "99999999999999999999", "1.5", "24", "0", "true", "2e1"], using: &rng)
        let path = try dir.write(SafetensorsTestWriter.file(header: header, data: data), to: "d.safetensors")
        let old = Self.reference(header, dataSize: data.count)
        let context = "iteration \(iteration): \(String(decoding: header, as: UTF8.self))"
        do {
          let file = try SafetensorsFile(path: path)
          opened += 1
          let entries = Dictionary(
            uniqueKeysWithValues: file.entries.map { entry in
              (
                entry.name,
                entry.shape + [entry.range.lowerBound - file.dataOffset, entry.range.upperBound - file.dataOffset]
              )
            })
          #expect(old?.metadata == file.metadata && old?.entries == entries, "\(context)")
        } catch let error as FormatError {
          if old != nil {
            let text = String(decoding: header, as: UTF8.self)
            let boolean = text.contains("true") || text.contains("false")
            let trailingComma = text.range(of: #",\s*[\]}]"#, options: .regularExpression) != nil
            #expect(
              error.caseName == "invalidShape" || boolean || (trailingComma && error.caseName == "invalidJSON"),
              "\(context): \(error)")
          }
        }
      }
    }
    #expect(opened > 100)
  }
}

extension Result {
  /// The error of a failure, nil for a success.
  fileprivate var error: Failure? {
    if case .failure(let error) = self { return error }
    return nil
  }
}
