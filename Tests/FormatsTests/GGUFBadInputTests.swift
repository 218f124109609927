import Formats
import Foundation
import Quantization
import Testing

/// Overwrites the little-endian integer at `offset` in `bytes`.
func patch<T: FixedWidthInteger>(_ bytes: inout [UInt8], at offset: Int, _ value: T) {
  withUnsafeBytes(of: value.littleEndian) { raw in
    for (i, b) in raw.enumerated() { bytes[offset + i] = b }
  }
}

/// Hostile and broken GGUF files: each must throw the specific `FormatError` naming the file, never trap.
@Suite struct GGUFBadInputTests {
  /// Writes `bytes`, opens them as GGUF and checks the error case and that the file is named.
  @discardableResult
  func expectOpen(
    _ bytes: [UInt8], throws caseName: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> FormatError? {
    try withTemporaryDirectory { dir in
      let path = try dir.write(bytes, to: "bad.gguf")
      return expectFormatError(caseName, naming: path, sourceLocation: sourceLocation) { _ = try GGUFFile(path: path) }
    }
  }

  @Test func emptyFile() throws {
    let error = try expectOpen([], throws: "truncated")
    #expect(error?.description.contains("magic") == true)
  }

  @Test func wrongMagic() throws {
    var bytes = GGUFSample.writer().build().bytes
    bytes.replaceSubrange(0..<4, with: Array("GGML".utf8))
    let error = try expectOpen(bytes, throws: "badMagic")
    #expect(error?.description.contains("GGML") == true)
    // A safetensors file handed to the GGUF reader.
    try expectOpen(SafetensorsTestWriter.sample().build(), throws: "badMagic")
    try expectOpen(Array("GG".utf8), throws: "truncated")
  }

  @Test(arguments: [UInt32(0), 1, 4, 0xFFFF_FFFF])
  func unsupportedVersionsAreRefused(version: UInt32) throws {
    let error = try expectOpen(GGUFSample.writer(version: version).build().bytes, throws: "unsupportedVersion")
    if case .unsupportedVersion(_, let found, let supported) = error {
      #expect(found == Int(version))
      #expect(supported == "2, 3")
    }
  }

  /// Every prefix of a valid file (through the header, the padding and the data) throws; none traps.
  @Test func everyTruncationThrows() throws {
    let out = GGUFSample.writer().build()
    try withTemporaryDirectory { dir in
      for cut in 0..<out.bytes.count {
        let path = try dir.write(Array(out.bytes[0..<cut]), to: "cut.gguf")
        do {
          _ = try GGUFFile(path: path)
          Issue.record("prefix of \(cut) bytes opened")
        } catch let error as FormatError {
          let expected = cut < out.headerEnd ? ["truncated", "invalidHeader"] : ["tensorOutOfBounds"]
          #expect(expected.contains(error.caseName), "cut at \(cut): \(error)")
          #expect(error.description.contains(path))
        }
      }
      // The whole file opens.
      _ = try GGUFFile(path: try dir.write(out.bytes, to: "whole.gguf"))
    }
  }

  @Test func tensorOffsetOutsideTheFile() throws {
    for offset: UInt64 in [4096, 1 << 40, UInt64(Int64.max) / 32 * 32, UInt64.max / 32 * 32] {
      var w = GGUFSample.writer()
      w.tensors[1].offset = offset
      let error = try expectOpen(w.build().bytes, throws: "tensorOutOfBounds")
      #expect(error?.description.contains("f16.weight") == true)
    }
    // In range at the start, running past the end.
    var w = GGUFSample.writer()
    var bytes = w.build().bytes
    bytes.removeLast(10)
    try expectOpen(bytes, throws: "tensorOutOfBounds")
    // Dimensions that make the data larger than the file.
    w.tensors[0].dimensions = [3, 1 << 20]
    try expectOpen(w.build().bytes, throws: "tensorOutOfBounds")
  }

  @Test func misalignedOffset() throws {
    var w = GGUFSample.writer()
    w.tensors[2].offset = 33
    let error = try expectOpen(w.build().bytes, throws: "invalidHeader")
    #expect(error?.description.contains("q8.weight") == true)
  }

  @Test func absurdLengths() throws {
    let out = GGUFSample.writer().build()
    // Tensor count, metadata count, a key length, a string value length, an array length, a tensor name length.
    let fields = [
      ("tensor count", 8), ("metadata count", 16), ("key length", out.marks["key:t.u8"]!),
      ("string length", out.marks["value:t.string"]!), ("array length", out.marks["value:t.strings"]! + 4),
      ("nested array length", out.marks["value:t.nested"]! + 4 + 8 + 4),
      ("array string length", out.marks["value:t.strings"]! + 12),
      ("tensor name length", out.marks["tensor:q8.weight"]!),
    ]
    for (what, offset) in fields {
      for value: UInt64 in [UInt64.max, UInt64(Int64.max), UInt64(Int64.max) + 1, 1 << 32, UInt64(out.bytes.count)] {
        var bytes = out.bytes
        patch(&bytes, at: offset, value)
        let error = try expectOpen(bytes, throws: "invalidHeader")
        #expect(error?.description.contains("\(value)") == true, "\(what)")
      }
    }
  }

  @Test(arguments: [UInt32(0), 5, 1000, 0xFFFF_FFFF])
  func rankOutsideOneToFour(rank: UInt32) throws {
    var bytes = GGUFSample.writer().build().bytes
    let out = GGUFSample.writer().build()
    patch(&bytes, at: out.marks["rank:f32.weight"]!, rank)
    let error = try expectOpen(bytes, throws: "invalidShape")
    #expect(error?.description.contains("f32.weight") == true)
    #expect(error?.description.contains("rank \(rank)") == true)
  }

  @Test func hugeDimensionsAndOverflowingElementCounts() throws {
    for dims: [UInt64] in [
      [UInt64.max], [1 << 40], [1 << 30, 1 << 30, 1 << 30], [1 << 36, 1 << 36, 1 << 36, 1 << 36],
    ] {
      var w = GGUFTestWriter()
      w.tensors = [GGUFTestTensor("big", dimensions: dims, type: .f32, data: [])]
      let error = try expectOpen(w.build().bytes, throws: "invalidShape")
      #expect(error?.description.contains("'big'") == true)
    }
    // Fits Int but the byte count of an 8-byte type overflows.
    var w = GGUFTestWriter()
    w.tensors = [GGUFTestTensor("f64", dimensions: [1 << 36, 1 << 25], type: .f64, data: [])]
    try expectOpen(w.build().bytes, throws: "invalidShape")
  }

  @Test func rowLengthNotAMultipleOfTheBlock() throws {
    for (type, row) in [(GGMLType.q8_0, UInt64(16)), (.q4_K, 128), (.q4_0, 33)] {
      var w = GGUFTestWriter()
      w.tensors = [GGUFTestTensor("blocky", dimensions: [row, 2], type: type, data: [])]
      let error = try expectOpen(w.build().bytes, throws: "invalidShape")
      #expect(error?.description.contains("blocky") == true)
      #expect(error?.description.contains(type.name) == true)
    }
  }

  @Test func duplicateKeysAndTensorNames() throws {
    var w = GGUFSample.writer()
    w.metadata.append((key: "t.u8", value: .uint8(1)))
    var error = try expectOpen(w.build().bytes, throws: "invalidHeader")
    #expect(error?.description.contains("t.u8") == true)

    w = GGUFSample.writer()
    w.tensors.append(GGUFTestTensor("f32.weight", dimensions: [1], type: .f32, data: f32Bytes([0])))
    error = try expectOpen(w.build().bytes, throws: "invalidHeader")
    #expect(error?.description.contains("f32.weight") == true)
  }

  @Test(arguments: [UInt8(2), 0xFF])
  func boolOtherThanZeroOrOne(raw: UInt8) throws {
    let out = GGUFSample.writer().build()
    var bytes = out.bytes
    bytes[out.marks["value:t.bool.true"]!] = raw
    let error = try expectOpen(bytes, throws: "invalidHeader")
    #expect(error?.description.contains("t.bool.true") == true)
  }

  @Test func unknownValueTypeAndTooDeepNesting() throws {
    let out = GGUFSample.writer().build()
    var bytes = out.bytes
    patch(&bytes, at: out.marks["value:t.u8"]! - 4, UInt32(13))
    try expectOpen(bytes, throws: "invalidHeader")
    // Array of an unknown element type with one element.
    bytes = out.bytes
    patch(&bytes, at: out.marks["value:t.ints"]!, UInt32(77))
    try expectOpen(bytes, throws: "invalidHeader")

    var w = GGUFTestWriter()
    w.metadata = [(key: "deep", value: .array([.array([.array([.uint8(1)])])]))]
    let error = try expectOpen(w.build().bytes, throws: "invalidHeader")
    #expect(error?.description.contains("deep") == true)
  }

  @Test func invalidAlignment() throws {
    for value: GGUFValue in [
      .uint32(0), .uint32(48), .uint32(1 << 21), .int32(-32), .string("32"), .uint64(UInt64.max),
    ] {
      var w = GGUFSample.writer()
      w.metadata.append((key: "general.alignment", value: value))
      let error = try expectOpen(w.build().bytes, throws: "invalidMetadata")
      #expect(error?.description.contains("general.alignment") == true)
    }
  }

  @Test func missingFileIsNotAFormatErrorButStillNamesThePath() throws {
    let path = "/nonexistent/\(UUID().uuidString).gguf"
    #expect(throws: (any Error).self) { _ = try GGUFFile(path: path) }
    do { _ = try GGUFFile(path: path) } catch { #expect("\(error)".contains(path)) }
  }
}
