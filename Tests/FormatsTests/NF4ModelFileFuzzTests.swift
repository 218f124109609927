import Formats
import Foundation
import Testing

/// Seeded mutations of a valid NF4 file's header JSON and quant state JSON: each file either opens (and then every
/// quantized tensor loads with its parts inside the file and decodes, or throws a FormatError) or throws a FormatError.
/// Scale and seed as in FormatsFuzzTests (FORMATS_FUZZ_SCALE, FORMATS_FUZZ_SEED).
@Suite struct NF4ModelFileFuzzTests {
  static let pieces = [
    "{", "}", "[", "]", ":", ",", "\"", "\\", "0", "-1", "1e400", "0.5", "18446744073709551616", "null", "true",
    "\"U8\"", "\"F32\"", "\"F16\"", "\"nf4\"", "\"fp4\"", "\"shape\"", "\"blocksize\"", "\"nested_blocksize\"",
    "\"nested_offset\"", "\"data_offsets\"", "\"edgetune.format\"", "[1,1]", "[0,4]", "[]", " ", "\u{0}", "é",
  ]
  static let numbers = ["0", "1", "2", "-2", "63", "64", "65", "128", "4096", "1e9", "-0", "0.5", "4294967296", "nan"]

  /// Opens `path`; on success checks every quantized tensor. Returns whether the file opened.
  static func check(_ path: String, context: @autoclosure () -> String) -> Bool {
    do {
      let file = try NF4ModelFile(path: path)
      let suffix = NF4ModelFile.quantStateSuffix
      for entry in file.file.entries where entry.name.hasSuffix(suffix) {
        do {
          let tensor = try file.quantized(String(entry.name.dropLast(suffix.count)))
          #expect(tensor.fileRange.lowerBound >= file.file.dataOffset, "\(context())")
          #expect(tensor.fileRange.upperBound <= file.file.fileSize, "\(context())")
          #expect(tensor.decoder.count == tensor.shape.reduce(1, *), "\(context())")
          // Decoding reads every packed byte and every scale: a part outside the mapping would fault here.
          var out = [Float](repeating: 0, count: tensor.decoder.count)
          tensor.decoder.decode(0..<out.count, into: &out)
        } catch {
          // `quantized` throws only FormatError (typed throws); refusing the tensor is a valid outcome.
          error.expectPrintable(context())
        }
      }
      do { try file.verifyChecksums() } catch let error as FormatError { error.expectPrintable(context()) } catch {
        Issue.record("\(context()): \(error)")
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

  /// One JSON-aware mutation of `text`: delete a run, insert a token, insert a raw byte, or swap a number.
  static func mutate(_ text: inout [UInt8], _ rng: inout SplitMix64) {
    let at = Int.random(in: 0...text.count, using: &rng)
    switch Int.random(in: 0..<4, using: &rng) {
    case 0: text.removeSubrange(at..<min(text.count, at + Int.random(in: 1...6, using: &rng)))
    case 1: text.insert(contentsOf: Array(pieces.randomElement(using: &rng)!.utf8), at: at)
    case 2: text.insert(UInt8.random(in: 0...255, using: &rng), at: at)
    default:
      if let digit = text.indices.filter({ (0x30...0x39).contains(text[$0]) }).randomElement(using: &rng) {
        text.replaceSubrange(digit...digit, with: Array(numbers.randomElement(using: &rng)!.utf8))
      }
    }
  }

  /// A quant state with each field valid, invalid or missing.
  static func randomState(_ rng: inout SplitMix64) -> [UInt8] {
    var fields: [String] = []
    func maybe(_ key: String, _ values: [String]) {
      if Int.random(in: 0..<6, using: &rng) > 0 { fields.append("\"\(key)\": " + values.randomElement(using: &rng)!) }
    }
    maybe("quant_type", ["\"nf4\"", "\"fp4\"", "4", "null"])
    maybe("blocksize", ["64", "32", "128", "0", "-64", "63", "65536", "131072", "\"64\"", "64.0", "1e20"])
    maybe(
      "shape", ["[16, 40]", "[40, 16]", "[640]", "[16, 48]", "[3, 5]", "[8, 64]", "[]", "[0]", "[-1, -640]", "null"])
    maybe("nested_blocksize", ["256", "4", "1", "0", "-4", "1048576", "2097152", "\"256\""])
    maybe("nested_offset", ["0.01", "-1e30", "1e39", "\"x\"", "null", "0"])
    return Array(("{" + fields.shuffled(using: &rng).joined(separator: ", ") + "}").utf8)
  }

  @Test func mutatedHeadersAndQuantStates() throws {
    var rng = SplitMix64(seed: 0x4E46_345A &+ FormatsFuzzTests.seedOffset)
    var opened = 0
    var loaded = 0
    try withTemporaryDirectory { dir in
      let base = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try NF4TestFile.sample().write(in: dir))))
      let headerLength = Int(base[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.1) << (8 * $1.0) })
      var json = Array(base[8..<(8 + headerLength)])
      while json.last == UInt8(ascii: " ") { json.removeLast() }
      let data = Array(base[(8 + headerLength)...])
      // Quant state byte ranges inside the data section.
      let states = try SafetensorsFile(path: dir.path + "/model.nf4").entries
        .filter { $0.name.hasSuffix(NF4ModelFile.quantStateSuffix) }
        .map { ($0.range.lowerBound - 8 - headerLength)..<($0.range.upperBound - 8 - headerLength) }
      for iteration in 0..<5000 * FormatsFuzzTests.scale {
        var header = json
        var body = data
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
          switch Int.random(in: 0..<3, using: &rng) {
          case 0:
            Self.mutate(&header, &rng)
          default:
            // A quant state rewritten in place: its length is fixed by data_offsets, so pad with spaces or cut.
            let range = states.randomElement(using: &rng)!
            var text: [UInt8]
            if Bool.random(using: &rng) {
              text = Self.randomState(&rng)
            } else {
              text = Array(body[range])
              Self.mutate(&text, &rng)
            }
            text = Array((text + [UInt8](repeating: UInt8(ascii: " "), count: range.count)).prefix(range.count))
            body.replaceSubrange(range, with: text)
          }
        }
        let path = try dir.write(SafetensorsTestWriter.file(header: header) + body, to: "fuzz.nf4")
        if Self.check(path, context: "iteration \(iteration)") {
          opened += 1
          if let file = try? NF4ModelFile(path: path),
            NF4TestFile.quantizedNames.allSatisfy({ (try? file.quantized($0)) != nil })
          {
            loaded += 1
          }
        }
      }
    }
    print("NF4ModelFileFuzzTests: \(opened) of \(5000 * FormatsFuzzTests.scale) opened, \(loaded) loaded every weight")
    // Some mutations must be harmless, or the checks on opened files never run.
    #expect(opened > 500 && loaded > 100)
  }
}
