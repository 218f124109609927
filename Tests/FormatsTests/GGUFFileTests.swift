import Formats
import Foundation
import Quantization
import Testing

/// A small valid GGUF: every metadata value type, and F32, F16 and Q8_0 tensors with known values.
enum GGUFSample {
  static let f32Values: [Float] = [1, -2, 3.5, 0.25, -0.125, 1e-3]  // shape [2, 3]
  static let f16Values: [Float] = [0.5, -1.5, 65504, -0.0009765625]  // exact in fp16
  static let q8Scale: Float = 0.5
  static let q8Quants: [[Int8]] = [
    (0..<32).map { Int8($0) - 16 },
    (0..<32).map { Int8(truncatingIfNeeded: $0 * 7 - 100) },
  ]
  static var q8Values: [Float] { q8Quants.flatMap { $0.map { q8Scale * Float($0) } } }

  static let metadata: [(key: String, value: GGUFValue)] = [
    ("general.architecture", .string("llama")),
    ("t.u8", .uint8(200)),
    ("t.i8", .int8(-100)),
    ("t.u16", .uint16(60000)),
    ("t.i16", .int16(-30000)),
    ("t.u32", .uint32(4_000_000_000)),
    ("t.i32", .int32(-2_000_000_000)),
    ("t.f32", .float32(3.25)),
    ("t.bool.true", .bool(true)),
    ("t.bool.false", .bool(false)),
    ("t.string", .string("héllo ✓ \u{1F600}")),
    ("t.string.empty", .string("")),
    ("t.u64", .uint64(UInt64.max)),
    ("t.i64", .int64(Int64.min)),
    ("t.f64", .float64(-1e300)),
    ("t.strings", .array([.string("<s>"), .string("</s>"), .string(""), .string("▁the")])),
    ("t.ints", .array([.int32(1), .int32(-2), .int32(3)])),
    ("t.nested", .array([.array([.uint8(1), .uint8(2)]), .array([]), .array([.uint8(3)])])),
    ("t.nested.strings", .array([.array([.string("a")]), .array([.string("b"), .string("c")])])),
    ("t.empty", .array([])),
  ]

  static func writer(version: UInt32 = 3, alignment: Int? = nil) -> GGUFTestWriter {
    var w = GGUFTestWriter()
    w.version = version
    w.metadata = metadata
    if let alignment { w.setAlignment(alignment) }
    w.tensors = [
      GGUFTestTensor("f32.weight", dimensions: [3, 2], type: .f32, data: f32Bytes(f32Values)),
      GGUFTestTensor("f16.weight", dimensions: [4], type: .f16, data: f16Bytes(f16Values)),
      GGUFTestTensor(
        "q8.weight", dimensions: [32, 2], type: .q8_0,
        data: q8Quants.flatMap { q8_0Block(scale: q8Scale, quants: $0) }),
    ]
    return w
  }
}

@Suite struct GGUFFileTests {
  @Test(arguments: [UInt32(2), 3])
  func everyMetadataTypeRoundTrips(version: UInt32) throws {
    try withTemporaryDirectory { dir in
      let path = try dir.write(GGUFSample.writer(version: version).build().bytes, to: "sample.gguf")
      let file = try GGUFFile(path: path)
      #expect(file.version == Int(version))
      #expect(file.metadataKeys == GGUFSample.metadata.map(\.key))
      for (key, value) in GGUFSample.metadata {
        #expect(file.metadata[key] == value, "\(key)")
      }
      #expect(file.metadata.count == GGUFSample.metadata.count)
      // Typed accessors.
      #expect(try file.requiredString("general.architecture") == "llama")
      #expect(try file.requiredInt("t.i32") == -2_000_000_000)
      #expect(try file.stringArray("t.strings") == ["<s>", "</s>", "", "▁the"])
      #expect(try file.intArray("t.ints") == [1, -2, 3])
      #expect(try file.optionalDouble("t.f32") == 3.25)
      #expect(try file.optionalDouble("absent") == nil)
      expectFormatError("missingMetadata", naming: path) { _ = try file.requiredInt("absent") }
      expectFormatError("invalidMetadata", naming: path) { _ = try file.requiredInt("t.string") }
      expectFormatError("invalidMetadata", naming: path) { _ = try file.requiredInt("t.u64") }  // does not fit Int
      expectFormatError("invalidMetadata", naming: path) { _ = try file.stringArray("t.ints") }
      expectFormatError("invalidMetadata", naming: path) { _ = try file.intArray("t.strings") }
    }
  }

  @Test(arguments: [UInt32(2), 3])
  func tensorViewsPointAtTheRightBytes(version: UInt32) throws {
    try withTemporaryDirectory { dir in
      let out = GGUFSample.writer(version: version).build()
      let path = try dir.write(out.bytes, to: "sample.gguf")
      let file = try GGUFFile(path: path)
      #expect(file.alignment == 32)
      #expect(file.dataOffset == out.dataOffset)
      #expect(file.fileSize == out.bytes.count)
      #expect(file.tensors.map(\.name) == ["f32.weight", "f16.weight", "q8.weight"])

      let f32 = try file.tensor("f32.weight")
      #expect(f32.shape == [2, 3])  // GGUF ne = [3, 2] reversed to row-major
      #expect(f32.type == .ggml(.f32))
      #expect(f32.byteCount == 24)
      #expect(f32.fileOffset == out.tensorStarts[0])
      #expect(f32.path == path)
      #expect(decode(f32) == GGUFSample.f32Values)

      let f16 = try file.tensor("f16.weight")
      #expect(f16.shape == [4])
      #expect(f16.byteCount == 8)
      #expect(f16.fileOffset == out.tensorStarts[1])
      #expect(decode(f16) == GGUFSample.f16Values)

      let q8 = try file.tensor("q8.weight")
      #expect(q8.shape == [2, 32])
      #expect(q8.type == .ggml(.q8_0))
      #expect(q8.byteCount == 2 * 34)
      #expect(q8.fileOffset == out.tensorStarts[2])
      #expect(Array(q8.bytes) == Array(out.bytes[out.tensorStarts[2]..<(out.tensorStarts[2] + 68)]))
      #expect(decode(q8) == GGUFSample.q8Values)

      let info = try #require(file.info("q8.weight"))
      #expect(info.dimensions == [32, 2])
      #expect(info.shape == [2, 32])
      #expect(info.elementCount == 64)
      #expect(info.typeName == "Q8_0")
      for view in [f32, f16, q8] { #expect(view.fileOffset % 32 == 0) }
      expectFormatError("missingTensor", naming: path) { _ = try file.tensor("nope") }
      #expect(file.info("nope") == nil)
    }
  }

  @Test(arguments: [1, 8, 64, 4096])
  func generalAlignmentIsHonoured(alignment: Int) throws {
    try withTemporaryDirectory { dir in
      let out = GGUFSample.writer(alignment: alignment).build()
      let path = try dir.write(out.bytes, to: "aligned.gguf")
      let file = try GGUFFile(path: path)
      #expect(file.alignment == alignment)
      #expect(file.dataOffset == out.dataOffset)
      #expect(file.dataOffset % alignment == 0)
      for (tensor, start) in zip(file.tensors, out.tensorStarts) {
        let view = try file.tensor(tensor.name)
        #expect(view.fileOffset == start)
        #expect(view.fileOffset % alignment == 0)
      }
      #expect(decode(try file.tensor("q8.weight")) == GGUFSample.q8Values)
      #expect(decode(try file.tensor("f16.weight")) == GGUFSample.f16Values)
    }
  }

  @Test func fileWithoutTensorsOrMetadataOpens() throws {
    try withTemporaryDirectory { dir in
      let path = try dir.write(GGUFTestWriter().build().bytes, to: "empty.gguf")
      let file = try GGUFFile(path: path)
      #expect(file.tensors.isEmpty)
      #expect(file.metadata.isEmpty)
      #expect(file.dataOffset == 32)
    }
  }

  @Test func unknownTypeIdOpensButTensorThrowsNamingTypeAndTensor() throws {
    try withTemporaryDirectory { dir in
      var w = GGUFSample.writer()
      w.tensors.append(
        GGUFTestTensor("mystery.weight", dimensions: [8], rawType: 99, data: [UInt8](repeating: 7, count: 8)))
      let path = try dir.write(w.build().bytes, to: "unknown.gguf")
      let file = try GGUFFile(path: path)
      let info = try #require(file.info("mystery.weight"))
      #expect(info.type == nil)
      #expect(info.byteCount == nil)
      #expect(info.typeName == "type 99")
      let error = expectFormatError("unsupportedType", naming: path) { _ = try file.tensor("mystery.weight") }
      #expect(error?.description.contains("type 99") == true)
      #expect(error?.description.contains("mystery.weight") == true)
      #expect(decode(try file.tensor("f32.weight")) == GGUFSample.f32Values)  // the others still work
    }
  }

  @Test func knownButUndecodableTypeGivesAView() throws {
    try withTemporaryDirectory { dir in
      var w = GGUFTestWriter()
      let bytes = GGMLType.iq2_xxs.bytesPerBlock
      w.tensors = [
        GGUFTestTensor("iq.weight", dimensions: [256], type: .iq2_xxs, data: [UInt8](repeating: 1, count: bytes))
      ]
      let path = try dir.write(w.build().bytes, to: "iq.gguf")
      let file = try GGUFFile(path: path)
      let view = try file.tensor("iq.weight")
      #expect(view.byteCount == bytes)
      #expect(view.type.decodable == nil)
    }
  }
}
