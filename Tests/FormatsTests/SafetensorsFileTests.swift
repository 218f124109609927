import Formats
import Foundation
import Quantization
import Testing

@Suite struct SafetensorsFileTests {
  @Test(arguments: [true, false])
  func viewsAndMetadata(padHeader: Bool) throws {
    try withTemporaryDirectory { dir in
      var w = SafetensorsTestWriter.sample()
      w.padHeader = padHeader
      let bytes = w.build()
      let path = try dir.write(bytes, to: "model.safetensors")
      let file = try SafetensorsFile(path: path)
      let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
      #expect(file.dataOffset == 8 + headerLength)
      #expect(file.fileSize == bytes.count)
      #expect(file.metadata == ["format": "pt", "note": "quote \" and slash \\"])
      #expect(file.entries.map(\.name) == ["model.f32", "model.f16", "model.bf16", "model.codes", "model.scalar"])

      let f32 = try file.tensor("model.f32")
      #expect(f32.shape == [2, 3])
      #expect(f32.type == .ggml(.f32))
      #expect(f32.fileOffset == file.dataOffset)
      #expect(f32.path == path)
      #expect(decode(f32) == SafetensorsTestWriter.f32Values)

      let f16 = try file.tensor("model.f16")
      #expect(f16.shape == [4])
      #expect(f16.fileOffset == file.dataOffset + 24)
      #expect(decode(f16) == SafetensorsTestWriter.f16Values)

      let bf16 = try file.tensor("model.bf16")
      #expect(bf16.shape == [2, 2])
      #expect(bf16.type == .ggml(.bf16))
      #expect(decode(bf16) == SafetensorsTestWriter.bf16Values)

      let codes = try file.tensor("model.codes")
      #expect(codes.type == .uint8)
      #expect(Array(codes.bytes) == [7, 8, 9])

      let scalar = try file.tensor("model.scalar")
      #expect(scalar.shape == [])
      #expect(scalar.elementCount == 1)
      #expect(decode(scalar) == [42])
      #expect(scalar.fileOffset + scalar.byteCount == bytes.count)

      let entry = try #require(file.entry("model.bf16"))
      #expect(entry.dtype == "BF16")
      #expect(entry.range == (file.dataOffset + 32)..<(file.dataOffset + 40))
      expectFormatError("missingTensor", naming: path) { _ = try file.tensor("absent") }
    }
  }

  @Test func entriesAreSortedByOffsetAndUnknownDtypesAreListed() throws {
    try withTemporaryDirectory { dir in
      var w = SafetensorsTestWriter()
      w.tensors = [
        .init(name: "b", dtype: "F32", shape: [1], data: f32Bytes([2]), offsetsJSON: "[4,8]"),
        .init(name: "a", dtype: "F32", shape: [1], data: f32Bytes([1]), offsetsJSON: "[0,4]"),
        .init(name: "odd", dtype: "F8_E4M3", shape: [2], data: [1, 2], offsetsJSON: "[8,10]"),
      ]
      let path = try dir.write(w.build(), to: "m.safetensors")
      let file = try SafetensorsFile(path: path)
      #expect(file.entries.map(\.name) == ["a", "b", "odd"])
      #expect(file.metadata.isEmpty)
      #expect(decode(try file.tensor("b")) == [1])  // data_offsets decide, not list order: bytes 4..<8 hold 1
      let odd = try file.tensor("odd")
      #expect(odd.type == .unknown("F8_E4M3"))
      #expect(odd.type.decodable == nil)
      #expect(odd.byteCount == 2)
    }
  }

  /// Writes `bytes`, opens them as safetensors and checks the error case and that the file is named.
  @discardableResult
  func expectOpen(_ bytes: [UInt8], throws caseName: String, sourceLocation: SourceLocation = #_sourceLocation) throws
    -> FormatError?
  {
    try withTemporaryDirectory { dir in
      let path = try dir.write(bytes, to: "bad.safetensors")
      return expectFormatError(caseName, naming: path, sourceLocation: sourceLocation) {
        _ = try SafetensorsFile(path: path)
      }
    }
  }

  func file(json: String, data: [UInt8] = []) -> [UInt8] {
    SafetensorsTestWriter.file(header: Array(json.utf8), data: data)
  }

  @Test func tooShortAndImpossibleHeaderLengths() throws {
    try expectOpen([], throws: "truncated")
    try expectOpen([1, 0, 0], throws: "truncated")
    let good = SafetensorsTestWriter.sample().build()
    let headerLength = UInt64(good.count - 8)
    for length: UInt64 in [0, 1, headerLength + 1, 1 << 27, UInt64(Int64.max), UInt64.max] {
      var bytes = good
      patch(&bytes, at: 0, length)
      let error = try expectOpen(bytes, throws: "invalidHeader")
      #expect(error?.description.contains("\(length)") == true)
    }
    // Header length exactly the rest of the file: the JSON runs into the data and is no longer valid.
    var bytes = good
    patch(&bytes, at: 0, headerLength)
    try expectOpen(bytes, throws: "invalidJSON")
  }

  @Test func headerThatIsNotJSON() throws {
    try expectOpen(file(json: "not json at all"), throws: "badMagic")
    try expectOpen(file(json: "[1, 2, 3]"), throws: "badMagic")
    try expectOpen(file(json: "{\"a\": "), throws: "invalidJSON")
    try expectOpen(file(json: "{\"a\": [1, 2}"), throws: "invalidJSON")
    try expectOpen(file(json: "{\"a\": tru}"), throws: "invalidJSON")
    try expectOpen(file(json: "{} trailing"), throws: "invalidJSON")
    try expectOpen(file(json: "{\"a\": \"\u{0}\"}"), throws: "invalidJSON")  // raw control character
    try expectOpen(file(json: "{\"a\": \"\\ud800\"}"), throws: "invalidJSON")  // lone surrogate escape
    let deep = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
    try expectOpen(file(json: deep), throws: "invalidJSON")
  }

  @Test(arguments: [[UInt8]([0xFF, 0xFE]), [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0x80]])
  func invalidUTF8InsideTheHeader(bad: [UInt8]) throws {
    // Inside a tensor name, and inside a metadata value.
    let prefix = Array("{\"__metadata__\":{\"k\":\"v".utf8)
    let suffix = Array("\"}}".utf8)
    try expectOpen(SafetensorsTestWriter.file(header: prefix + bad + suffix), throws: "invalidJSON")
    let name = Array("{\"w".utf8) + bad + Array("\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}".utf8)
    try expectOpen(SafetensorsTestWriter.file(header: name, data: [0]), throws: "invalidJSON")
  }

  @Test func dataOffsetsPastTheEnd() throws {
    var w = SafetensorsTestWriter.sample()
    w.tensors[1].offsetsJSON = "[24, 4000]"
    var error = try expectOpen(w.build(), throws: "tensorOutOfBounds")
    #expect(error?.description.contains("model.f16") == true)
    w = SafetensorsTestWriter.sample()
    var bytes = w.build()
    bytes.removeLast()
    error = try expectOpen(bytes, throws: "tensorOutOfBounds")
    #expect(error?.description.contains("model.scalar") == true)
  }

  @Test func byteSizeNotMatchingShapeTimesDtype() throws {
    for (dtype, shape, count) in [
      ("F32", [2, 3], 20), ("F16", [4], 4), ("BF16", [2, 2], 12), ("U8", [3], 0), ("F32", [], 0),
    ] {
      var w = SafetensorsTestWriter()
      w.tensors = [.init(name: "w", dtype: dtype, shape: shape, data: [UInt8](repeating: 0, count: count))]
      let error = try expectOpen(w.build(), throws: "invalidShape")
      #expect(error?.description.contains("'w'") == true)
    }
    // A shape whose element count overflows.
    try expectOpen(
      file(json: "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}"),
      throws: "invalidShape")
  }

  /// An unknown dtype skips the byte-size check, but its shape must still have a countable number of elements:
  /// `TensorView.elementCount` multiplies the dimensions.
  @Test func unknownDtypeWithOverflowingShape() throws {
    let json = "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}"
    let error = try expectOpen(file(json: json), throws: "invalidShape")
    #expect(error?.description.contains("'w'") == true)
  }

  @Test func missingOrMalformedFields() throws {
    let cases: [(String, String)] = [
      ("{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0.5,1]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[\"0\",1]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", "invalidHeader"),
      ("{\"w\":[1,2]}", "invalidHeader"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", "invalidShape"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", "invalidShape"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]}}", "invalidShape"),
      ("{\"w\":{\"dtype\":\"U8\",\"shape\":[1e300],\"data_offsets\":[0,1]}}", "invalidShape"),
      ("{\"__metadata__\":[1]}", "invalidHeader"),
      ("{\"__metadata__\":{\"k\":1}}", "invalidHeader"),
    ]
    for (json, caseName) in cases {
      let error = try expectOpen(file(json: json, data: [0]), throws: caseName)
      if caseName != "invalidHeader" || !json.contains("__metadata__") {
        #expect(error?.description.contains("w") == true, "\(json)")
      }
    }
  }
}
