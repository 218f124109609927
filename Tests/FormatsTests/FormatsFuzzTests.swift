import Formats
import Foundation
import Testing

/// Seeded mutation fuzzing of the GGUF and safetensors readers: every parse either succeeds with every tensor view
/// inside the file, or throws a `FormatError`. Deterministic by default; for a longer hunt set
/// `FORMATS_FUZZ_SCALE=20` (iterations ×20) and `FORMATS_FUZZ_SEED=n` (added to each test's seed). A trap kills the
/// run: its backtrace names the test, and the same seed reproduces it.
@Suite struct FormatsFuzzTests {
  static let scale = max(1, Int(ProcessInfo.processInfo.environment["FORMATS_FUZZ_SCALE"] ?? "") ?? 1)
  static let seedOffset = UInt64(ProcessInfo.processInfo.environment["FORMATS_FUZZ_SEED"] ?? "") ?? 0

  static let bigValues: [UInt64] = [
    UInt64.max, UInt64.max - 1, UInt64(Int64.max), UInt64(Int64.max) + 1, 1 << 32, (1 << 32) - 1, 1 << 40, 1 << 62,
    UInt64(UInt32.max) * 64, 0, 1, 2, 31, 32, 33, 255, 256, 4096,
  ]

  /// Opens `path` as GGUF; on success checks every view lies inside the file. Returns whether it opened.
  @discardableResult
  static func checkGGUF(_ path: String, context: @autoclosure () -> String) -> Bool {
    do {
      let file = try GGUFFile(path: path)
      for info in file.tensors {
        do {
          let view = try file.tensor(info.name)
          #expect(view.fileOffset >= file.dataOffset, "\(context())")
          #expect(view.fileOffset + view.byteCount <= file.fileSize, "\(context())")
          #expect(view.byteCount == info.byteCount, "\(context())")
          // Touch the first and last byte: a view outside the mapping would fault here.
          if view.byteCount > 0 { _ = view.bytes[0] &+ view.bytes[view.byteCount - 1] }
        } catch {
          #expect(info.type == nil, "\(context()): \(error)")
        }
      }
      return true
    } catch let error as FormatError {
      error.expectPrintable(context())
      return false
    } catch {
      Issue.record("\(context()): not a FormatError: \(error)")
      return false
    }
  }

  @Test func mutatedGGUF() throws {
    var rng = SplitMix64(seed: 0x6767_7566 &+ Self.seedOffset)
    let out = GGUFSample.writer().build()
    var opened = 0
    try withTemporaryDirectory { dir in
      for iteration in 0..<10_000 * Self.scale {
        var bytes = out.bytes
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
          switch Int.random(in: 0..<5, using: &rng) {
          case 0:  // random bytes, mostly in the header
            let limit = min(Bool.random(using: &rng) ? out.headerEnd : bytes.count, bytes.count)
            for _ in 0..<Int.random(in: 1...4, using: &rng) where limit > 0 {
              bytes[Int.random(in: 0..<limit, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
          case 1:  // a u64 field (count, length, dimension, offset) set to a big or edge value
            let field = out.u64Fields.randomElement(using: &rng)!
            let value =
              Bool.random(using: &rng)
              ? Self.bigValues.randomElement(using: &rng)! : UInt64.random(in: 0...UInt64.max, using: &rng)
            if field + 8 <= bytes.count { patch(&bytes, at: field, value) }
          case 2:  // a u32 field (version, value type, rank, tensor type)
            let field = out.u32Fields.randomElement(using: &rng)!
            let value =
              Bool.random(using: &rng)
              ? UInt32.random(in: 0...40, using: &rng) : UInt32.random(in: 0...UInt32.max, using: &rng)
            if field + 4 <= bytes.count { patch(&bytes, at: field, value) }
          case 3:  // truncate
            bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
          default:  // a single bit
            let i = Int.random(in: 0..<max(out.headerEnd, 1), using: &rng)
            if i < bytes.count { bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng) }
          }
        }
        let path = try dir.write(bytes, to: "fuzz.gguf")
        if Self.checkGGUF(path, context: "mutation iteration \(iteration)") { opened += 1 }
      }
    }
    // The mutations should not all be fatal: some parses succeed and get their views checked.
    #expect(opened > 100)
  }

  @Test func randomGGUFHeaders() throws {
    var rng = SplitMix64(seed: 0x4845_4144 &+ Self.seedOffset)
    try withTemporaryDirectory { dir in
      for iteration in 0..<5000 * Self.scale {
        var w = ByteWriter()
        w.bytes += Array("GGUF".utf8)
        w.int(UInt32(Bool.random(using: &rng) ? 3 : 2))
        // Small counts most of the time so parsing gets past them into random metadata and tensor infos.
        w.int(UInt64.random(in: 0...3, using: &rng))
        w.int(UInt64.random(in: 0...3, using: &rng))
        for _ in 0..<Int.random(in: 0...40, using: &rng) {
          switch Int.random(in: 0..<4, using: &rng) {
          case 0: w.int(UInt64.random(in: 0...16, using: &rng))  // a plausible length / dimension / offset
          case 1: w.int(UInt32.random(in: 0...13, using: &rng))  // a plausible type id / rank
          case 2: w.bytes += Array("k.\(iteration)".utf8)
          default: w.int(UInt8.random(in: 0...255, using: &rng))
          }
        }
        w.bytes += (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let path = try dir.write(w.bytes, to: "random.gguf")
        Self.checkGGUF(path, context: "random header \(iteration)")
      }
      // Wholly random bytes, with and without the magic.
      for iteration in 0..<1000 * Self.scale {
        var bytes = (0..<Int.random(in: 0...96, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        if iteration % 2 == 0, bytes.count >= 4 { bytes.replaceSubrange(0..<4, with: Array("GGUF".utf8)) }
        let path = try dir.write(bytes, to: "noise.gguf")
        Self.checkGGUF(path, context: "random bytes \(iteration)")
      }
    }
  }

  /// Opens `path` as safetensors; on success checks every entry and view lies inside the data section.
  @discardableResult
  static func checkSafetensors(_ path: String, context: @autoclosure () -> String) -> Bool {
    do {
      let file = try SafetensorsFile(path: path)
      for entry in file.entries {
        #expect(entry.range.lowerBound >= file.dataOffset && entry.range.upperBound <= file.fileSize, "\(context())")
        let view = try file.tensor(entry.name)
        #expect(view.fileOffset == entry.range.lowerBound && view.byteCount == entry.range.count, "\(context())")
        if let expected = view.type.byteCount(elements: view.elementCount) {
          #expect(expected == view.byteCount, "\(context())")
        }
        if view.byteCount > 0 { _ = view.bytes[0] &+ view.bytes[view.byteCount - 1] }
      }
      return true
    } catch let error as FormatError {
      error.expectPrintable(context())
      return false
    } catch {
      Issue.record("\(context()): not a FormatError: \(error)")
      return false
    }
  }

  static let jsonPieces = [
    "{", "}", "[", "]", ":", ",", "\"", "\\", "\\u", "\\ud83d", "0", "-1", "1e400", "-0", "0.5", "18446744073709551616",
    "9223372036854775807", "null", "true", "false", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"",
    "\"F32\"", "\"BF16\"", "\"U8\"", "[0,4]", "[]", " ", "\n", "\u{0}", "é",
  ]

  /// Applies `edits` random edits to JSON text, each one of: delete a run of up to `deleteUpTo` bytes, insert a
  /// `jsonPieces` token, insert a raw byte (often invalid UTF-8), or replace a digit with one of `numbers`.
  static func mutate(
    _ header: inout [UInt8], edits: ClosedRange<Int>, deleteUpTo: Int, numbers: [String],
    using rng: inout SplitMix64
  ) {
    for _ in 0..<Int.random(in: edits, using: &rng) {
      let at = Int.random(in: 0...header.count, using: &rng)
      switch Int.random(in: 0..<4, using: &rng) {
      case 0: header.removeSubrange(at..<min(header.count, at + Int.random(in: 1...deleteUpTo, using: &rng)))
      case 1: header.insert(contentsOf: Array(jsonPieces.randomElement(using: &rng)!.utf8), at: at)
      case 2: header.insert(UInt8.random(in: 0...255, using: &rng), at: at)
      default:
        if let digit = header.indices.filter({ (0x30...0x39).contains(header[$0]) }).randomElement(using: &rng) {
          header.replaceSubrange(digit...digit, with: Array(numbers.randomElement(using: &rng)!.utf8))
        }
      }
    }
  }

  @Test func mutatedSafetensors() throws {
    var rng = SplitMix64(seed: 0x5341_4645 &+ Self.seedOffset)
    let base = SafetensorsTestWriter.sample()
    let json = Array(base.headerJSON().utf8)
    let data = base.tensors.flatMap(\.data)
    var opened = 0
    try withTemporaryDirectory { dir in
      for iteration in 0..<8000 * Self.scale {
        var header = json
        Self.mutate(
          &header, edits: 1...3, deleteUpTo: 6,
          numbers: ["4294967296", "-8", "99999999999999999999", "1.5", "24", "0"],
          using: &rng)
        // Mostly the true length; sometimes a random one.
        let length: UInt64? =
          switch Int.random(in: 0..<8, using: &rng) {
          case 0: Self.bigValues.randomElement(using: &rng)!
          case 1: UInt64(header.count) &+ UInt64.random(in: 0...64, using: &rng) &- 32
          default: nil
          }
        var fileData = data
        if Int.random(in: 0..<4, using: &rng) == 0 {
          fileData.removeLast(Int.random(in: 0...fileData.count, using: &rng))
        }
        let path = try dir.write(
          SafetensorsTestWriter.file(header: header, data: fileData, headerLength: length), to: "fuzz.safetensors")
        if Self.checkSafetensors(path, context: "mutation iteration \(iteration)") { opened += 1 }
      }
    }
    #expect(opened > 100)
  }

  @Test func randomSafetensorsHeaders() throws {
    var rng = SplitMix64(seed: 0x5254_4E44 &+ Self.seedOffset)
    let dtypes = [
      "F32", "F16", "BF16", "F64", "I8", "I64", "U8", "U16", "U32", "U64", "BOOL", "F8_E5M2", "", "F8_E4M3", "?",
    ]
    func number(_ rng: inout SplitMix64) -> String {
      Bool.random(using: &rng)
        ? String(Int.random(in: -2...40, using: &rng))
        : ["1e18", "4294967296", "9223372036854775807", "9223372036854775808", "-1", "0.25", "true", "null", "\"3\""]
          .randomElement(using: &rng)!
    }
    try withTemporaryDirectory { dir in
      for iteration in 0..<5000 * Self.scale {
        var entries: [String] = []
        for t in 0..<Int.random(in: 0...4, using: &rng) {
          let shape = (0..<Int.random(in: 0...3, using: &rng)).map { _ in number(&rng) }.joined(separator: ",")
          let offsets = (0..<Int.random(in: 1...3, using: &rng)).map { _ in number(&rng) }.joined(separator: ",")
          entries.append(
            "\"t\(t)\":{\"dtype\":\"\(dtypes.randomElement(using: &rng)!)\",\"shape\":[\(shape)],\"data_offsets\":[\(offsets)]}"
          )
        }
        if Int.random(in: 0..<4, using: &rng) == 0 { entries.append("\"__metadata__\":{\"a\":\(number(&rng))}") }
        let header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        let data = [UInt8](repeating: 0x3C, count: Int.random(in: 0...64, using: &rng))
        let length: UInt64? =
          Int.random(in: 0..<10, using: &rng) == 0 ? UInt64.random(in: 0...UInt64.max, using: &rng) : nil
        let path = try dir.write(
          SafetensorsTestWriter.file(header: header, data: data, headerLength: length), to: "random.safetensors")
        Self.checkSafetensors(path, context: "random header \(iteration)")
      }
      for iteration in 0..<1000 * Self.scale {
        let bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let path = try dir.write(bytes, to: "noise.safetensors")
        Self.checkSafetensors(path, context: "random bytes \(iteration)")
      }
    }
  }
}
