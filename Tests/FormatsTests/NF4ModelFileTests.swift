import Formats
import Foundation
import Quantization
import Testing

/// NF4ModelFile on hand-made files (NF4TestFile): a valid one reads and decodes; every kind of damage is a
/// FormatError that names the file and the tensor or key, never a trap.
@Suite struct NF4ModelFileTests {
  // MARK: - A valid file

  @Test func handMadeFileOpensAndDecodes() throws {
    try withTemporaryDirectory { dir in
      let sample = NF4TestFile.sample()
      let path = try sample.write(in: dir)
      let file = try NF4ModelFile(path: path)
      #expect(file.config["hidden_size"] as? Int == 16)
      #expect(file.tokenizerJSON == Array("{\"model\":{\"type\":\"BPE\"}}".utf8))
      #expect(file.specialTokenIDs == ["eos": 2])
      #expect(file.chatTemplate == nil)
      #expect(file.file.dataOffset % 4096 == 0)
      #expect(!file.isQuantized(NF4TestFile.vector) && file.contains(NF4TestFile.vector))
      for name in NF4TestFile.quantizedNames {
        #expect(file.isQuantized(name))
        let tensor = try file.quantized(name)
        let x = try #require(sample.values[name])
        #expect(tensor.shape.reduce(1, *) == x.count && tensor.decoder.count == x.count)
        #expect(
          tensor.fileRange.lowerBound >= file.file.dataOffset && tensor.fileRange.upperBound <= file.file.fileSize)
        var fast = [Float](repeating: .nan, count: x.count)
        var naive = [Float](repeating: .nan, count: x.count)
        tensor.decoder.decode(0..<x.count, into: &fast)
        tensor.decoder.decodeNaive(0..<x.count, into: &naive)
        #expect(fast == naive, "\(name)")
        // NF4 keeps each weight within half the widest code gap (0.139) of its block's absmax (≤ 0.35 here).
        let worst = zip(fast, x).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 0.05, "\(name): worst error \(worst)")
      }
      #expect(try file.verifyChecksums() == sample.parts.count)
    }
  }

  // MARK: - Truncation and corrupt headers

  /// Every prefix: byte by byte through the header and the start of the data, then a stride through the data.
  @Test func truncatedFileIsAFormatError() throws {
    try withTemporaryDirectory { dir in
      let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try NF4TestFile.sample().write(in: dir))))
      let dataOffset = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.1) << (8 * $1.0) }) + 8
      #expect(dataOffset == 4096)
      for length in Array(0..<(dataOffset + 64)) + Array(stride(from: dataOffset + 64, to: bytes.count, by: 61)) {
        let path = try dir.write(Array(bytes[0..<length]), to: "truncated.nf4")
        do {
          _ = try NF4ModelFile(path: path)
          Issue.record("a \(length)-byte prefix opened")
        } catch is FormatError {
        } catch {
          Issue.record("\(length)-byte prefix: not a FormatError: \(error)")
        }
      }
    }
  }

  @Test func corruptHeaderJSONIsInvalidJSON() throws {
    try withTemporaryDirectory { dir in
      let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try NF4TestFile.sample().write(in: dir))))
      /// The file with the first occurrence of `target` in the header replaced (same length: nothing moves).
      func patched(_ target: String, _ replacement: [UInt8]) throws -> [UInt8] {
        let pattern = Array(target.utf8)
        let start = try #require(
          (8..<(4096 - pattern.count)).first { bytes[$0..<($0 + pattern.count)].elementsEqual(pattern) },
          "\(target) not in the header")
        var out = bytes
        out.replaceSubrange(start..<(start + pattern.count), with: replacement)
        return out
      }
      let cases: [(String, [UInt8])] = [
        ("a colon turned into a semicolon", try patched("\"dtype\":", Array("\"dtype\";".utf8))),
        ("an unterminated string", try patched("\"pt\"", Array("\"pt ".utf8))),
        ("invalid UTF-8 inside a metadata string", try patched("nf4\"", [0xFF, 0xFE, 0xFD, 0x22])),
        ("invalid UTF-8 in a tensor name", try patched("model.norm", [0xC3, 0x28] + Array("del.norm".utf8))),
        ("a stray byte in the padding", try patched("}  ", [0x7D, 0x20, 0xFF])),
        ("an extra closing brace", try patched("}  ", Array("}} ".utf8))),
      ]
      for (what, damaged) in cases {
        let path = try dir.write(damaged, to: "header.nf4")
        let error = expectFormatError("invalidJSON", naming: path) { _ = try NF4ModelFile(path: path) }
        #expect(error != nil, "\(what)")
      }
    }
  }

  @Test func invalidEmbeddedJSONNamesItsKey() throws {
    try withTemporaryDirectory { dir in
      var sample = NF4TestFile.sample()
      sample.setMetadata("edgetune.config", "{\"hidden_size\": 16,")
      let path = try sample.write(in: dir)
      expectFormatError("invalidJSON", naming: path + " (edgetune.config)") { _ = try NF4ModelFile(path: path) }

      for text in ["{\"quant_type\": \"nf4\", \"blocksize\": 64", "[64]", "\u{FF}"] {
        var bad = NF4TestFile.sample()
        bad.setQuantState(NF4TestFile.nested, text)
        let file = try NF4ModelFile(path: try bad.write(in: dir))
        expectFormatError("invalidJSON", naming: NF4TestFile.nested + NF4ModelFile.quantStateSuffix) {
          _ = try file.quantized(NF4TestFile.nested)
        }
      }
      // Invalid UTF-8 bytes (not a Swift string) in the quant state.
      var bad = NF4TestFile.sample()
      bad.edit(NF4TestFile.plain + NF4ModelFile.quantStateSuffix) { $0.bytes[3] = 0xFF }
      let file = try NF4ModelFile(path: try bad.write(in: dir))
      expectFormatError("invalidJSON", naming: NF4TestFile.plain + NF4ModelFile.quantStateSuffix) {
        _ = try file.quantized(NF4TestFile.plain)
      }
    }
  }

  // MARK: - Parts of the wrong shape, type or presence

  /// (weight, part suffix, dtype, element count) with the wrong size or type for that part.
  static let wrongParts: [(String, String, String, Int)] = [
    (NF4TestFile.nested, "", "U8", 321),  // packed: 320 bytes expected
    (NF4TestFile.nested, "", "U8", 319),
    (NF4TestFile.nested, "", "F16", 160),  // the right byte count, the wrong type
    (NF4TestFile.plain, "", "U8", 7),  // 15 weights need 8 bytes
    (NF4TestFile.nested, ".absmax", "U8", 11),
    (NF4TestFile.nested, ".absmax", "F32", 10),  // fp32 scales where the state says double-quantized
    (NF4TestFile.plain, ".absmax", "U8", 1),  // 8-bit codes where the state says plain
    (NF4TestFile.plain, ".absmax", "F32", 2),
    (NF4TestFile.grouped, ".nested_absmax", "F32", 1),  // 8 blocks in groups of 4: 2 group scales
    (NF4TestFile.grouped, ".nested_absmax", "F32", 3),
    (NF4TestFile.nested, ".nested_absmax", "F16", 2),
    (NF4TestFile.nested, ".quant_map", "F32", 15),
    (NF4TestFile.plain, ".quant_map", "F16", 16),
    (NF4TestFile.nested, ".nested_quant_map", "F32", 255),
    (NF4TestFile.grouped, ".nested_quant_map", "U8", 1024),
  ]

  @Test(arguments: 0..<wrongParts.count) func wrongPartIsInvalidShape(index: Int) throws {
    let (weight, suffix, dtype, count) = Self.wrongParts[index]
    let name = weight + suffix
    try withTemporaryDirectory { dir in
      var sample = NF4TestFile.sample()
      sample.edit(name) {
        $0.dtype = dtype
        $0.shape = suffix.isEmpty ? [count, 1] : [count]
        let size = ["U8": 1, "F16": 2, "F32": 4][dtype]!
        $0.bytes = [UInt8](repeating: 0x3C, count: count * size)
      }
      let path = try sample.write(in: dir)
      let file = try NF4ModelFile(path: path)
      let error = expectFormatError("invalidShape", naming: path) { _ = try file.quantized(weight) }
      #expect(error?.description.contains("tensor '\(name)'") == true, "\(String(describing: error))")
      // The other weights still load.
      for other in NF4TestFile.quantizedNames where other != weight { _ = try file.quantized(other) }
    }
  }

  /// A state whose block size or shape disagrees with the parts: the first part of the wrong size is named.
  @Test func stateDisagreeingWithThePartsIsInvalidShape() throws {
    try withTemporaryDirectory { dir in
      let original = NF4TestFile.sample().quantState(NF4TestFile.nested)
      for (from, to, part) in [
        ("\"blocksize\": 64", "\"blocksize\": 32", ".absmax"), ("[16, 40]", "[16, 48]", ""),
        ("\"nested_blocksize\": 256", "\"nested_blocksize\": 2", ".nested_absmax"),
      ] {
        var sample = NF4TestFile.sample()
        sample.setQuantState(NF4TestFile.nested, original.replacingOccurrences(of: from, with: to))
        let path = try sample.write(in: dir)
        let error = expectFormatError("invalidShape", naming: path) {
          _ = try NF4ModelFile(path: path).quantized(NF4TestFile.nested)
        }
        #expect(error?.description.contains("tensor '\(NF4TestFile.nested + part)'") == true, "\(to)")
      }
    }
  }

  @Test(arguments: [
    NF4TestFile.nested, NF4TestFile.nested + ".absmax", NF4TestFile.nested + ".quant_map",
    NF4TestFile.nested + ".nested_absmax", NF4TestFile.nested + ".nested_quant_map",
    NF4TestFile.nested + NF4ModelFile.quantStateSuffix, NF4TestFile.plain + ".absmax", NF4TestFile.plain + ".quant_map",
    NF4TestFile.plain + NF4ModelFile.quantStateSuffix,
  ])
  func missingPartIsMissingTensor(name: String) throws {
    let weight = NF4TestFile.quantizedNames.first { name.hasPrefix($0) }!
    try withTemporaryDirectory { dir in
      var sample = NF4TestFile.sample()
      sample.remove(name)
      let path = try sample.write(in: dir)
      let file = try NF4ModelFile(path: path)
      let error = expectFormatError("missingTensor", naming: path) { _ = try file.quantized(weight) }
      #expect(error?.description.contains("tensor '\(name)") == true, "\(String(describing: error))")
    }
  }

  // MARK: - Quant state values

  static let badStates: [(String, String)] = [
    ("\"blocksize\": 64", "\"blocksize\": 0"), ("\"blocksize\": 64", "\"blocksize\": 63"),
    ("\"blocksize\": 64", "\"blocksize\": -64"), ("\"blocksize\": 64", "\"blocksize\": \"64\""),
    ("\"blocksize\": 64", "\"blocksize\": 64.5"), ("\"blocksize\": 64", "\"blocksize\": 131072"),
    ("\"blocksize\": 64", "\"blocksize\": 1e300"), ("\"blocksize\": 64", "\"blocksize\": null"),
    ("\"blocksize\": 64, ", ""), ("\"quant_type\": \"nf4\"", "\"quant_type\": \"fp4\""),
    ("\"quant_type\": \"nf4\", ", ""), ("\"quant_type\": \"nf4\"", "\"quant_type\": 4"),
    ("\"shape\": [16, 40], ", ""), ("[16, 40]", "[]"), ("[16, 40]", "[0, 40]"), ("[16, 40]", "[-16, -40]"),
    ("[16, 40]", "[16.5, 40]"), ("[16, 40]", "\"16x40\""), ("[16, 40]", "[4294967296, 4294967296]"),
    ("[16, 40]", "[9223372036854775807, 2]"), ("\"nested_blocksize\": 256", "\"nested_blocksize\": 0"),
    ("\"nested_blocksize\": 256", "\"nested_blocksize\": 2097152"),
    ("\"nested_offset\": ", "\"nested_offset\": 1e39, \"x\": "),
    ("\"nested_offset\": ", "\"nested_offset\": \"0.1\", \"x\": "), ("\"nested_offset\": ", "\"x\": "),
  ]

  @Test(arguments: 0..<badStates.count) func badQuantStateIsInvalidMetadata(index: Int) throws {
    let (from, to) = Self.badStates[index]
    try withTemporaryDirectory { dir in
      var sample = NF4TestFile.sample()
      let state = sample.quantState(NF4TestFile.nested)
      #expect(state.contains(from))
      sample.setQuantState(NF4TestFile.nested, state.replacingOccurrences(of: from, with: to))
      let path = try sample.write(in: dir)
      let file = try NF4ModelFile(path: path)
      let key = NF4TestFile.nested + NF4ModelFile.quantStateSuffix
      let error = expectFormatError("invalidMetadata", naming: path) { _ = try file.quantized(NF4TestFile.nested) }
      #expect(error?.description.contains("'\(key)'") == true, "\(to): \(String(describing: error))")
    }
  }

  // MARK: - Checksums

  @Test func flippedByteFailsTheChecksumOfThatTensor() throws {
    try withTemporaryDirectory { dir in
      let sample = NF4TestFile.sample()
      let path = try sample.write(in: dir)
      let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
      let entries = try SafetensorsFile(path: path).entries
      #expect(entries.count == sample.parts.count)
      for entry in entries {
        var bytes = original
        bytes[entry.range.upperBound - 1] ^= 0x01
        let damaged = try dir.write(bytes, to: "flipped.nf4")
        let file = try NF4ModelFile(path: damaged)
        let error = expectFormatError("checksumMismatch", naming: damaged) { try file.verifyChecksums() }
        if case .checksumMismatch(_, let tensor, let expected, let found) = error {
          #expect(tensor == entry.name && expected != found && found.hasPrefix("crc32:"))
        }
      }
    }
  }

  @Test func missingChecksumsAreNamed() throws {
    try withTemporaryDirectory { dir in
      let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try NF4TestFile.sample().write(in: dir))))
      // Rename the checksum key, then one tensor's entry in it (same lengths, so nothing moves).
      for (from, to, key) in [
        ("\"edgetune.checksums\"", "\"edgetune.checksumz\"", "edgetune.checksums"),
        (
          "\\\"model.norm.weight\\\":\\\"crc32", "\\\"model.norm.weighx\\\":\\\"crc32",
          "edgetune.checksums.model.norm.weight"
        ),
      ] {
        var text = String(decoding: bytes[8..<4096], as: UTF8.self)
        #expect(text.contains(from), "\(from)")
        text = text.replacingOccurrences(of: from, with: to)
        let path = try dir.write(Array(bytes[0..<8]) + Array(text.utf8) + Array(bytes[4096...]), to: "sums.nf4")
        let file = try NF4ModelFile(path: path)
        let error = expectFormatError("missingMetadata", naming: path) { try file.verifyChecksums() }
        #expect(error?.description.contains("'\(key)'") == true, "\(String(describing: error))")
      }
    }
  }

  // MARK: - File-level metadata

  @Test func missingOrWrongMetadataIsExplained() throws {
    let cases: [(String, String?, String, String)] = [
      ("edgetune.format", nil, "invalidMetadata", "edgetune convert"),
      ("edgetune.format", "gguf", "invalidMetadata", "not an EdgeTune NF4 model"),
      ("edgetune.version", nil, "unsupportedVersion", "supported: 1"),
      ("edgetune.version", "2", "unsupportedVersion", "version 2 is not supported"),
      ("edgetune.config", nil, "missingMetadata", "'edgetune.config' is missing"),
      ("edgetune.tokenizer", nil, "missingMetadata", "'edgetune.tokenizer' is missing"),
    ]
    try withTemporaryDirectory { dir in
      for (key, value, caseName, fragment) in cases {
        var sample = NF4TestFile.sample()
        sample.setMetadata(key, value)
        let path = try sample.write(in: dir)
        let error = expectFormatError(caseName, naming: path) { _ = try NF4ModelFile(path: path) }
        #expect(error?.description.contains(fragment) == true, "\(key)=\(value ?? "nil"): \(String(describing: error))")
      }
      // A plain safetensors file (no EdgeTune metadata at all) is told apart from a damaged NF4 file.
      let plain = try dir.write(SafetensorsTestWriter.sample().build(), to: "plain.safetensors")
      expectFormatError("invalidMetadata", naming: plain) { _ = try NF4ModelFile(path: plain) }
    }
  }
}
