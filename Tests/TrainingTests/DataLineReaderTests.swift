import Foundation
import Testing

@testable import Training

/// LineReader (issue 22): lines up to the cap read exactly, in any buffer position; a longer line is an error naming
/// its line; line endings and the byte-order mark are stripped as before.
@Suite struct DataLineReaderTests {
  /// Every line of `path` read with a cap of `maximum` bytes.
  func lines(_ path: String, maximum: Int) throws(TrainingError) -> [String] {
    var reader = try LineReader(path: path, maximumLineBytes: maximum)
    var lines: [String] = []
    while let line = try reader.nextLine({ bytes, _ throws(TrainingError) in String(decoding: bytes, as: UTF8.self) }) {
      lines.append(line)
    }
    return lines
  }

  /// Lines of every length up to the cap, many times the starting buffer in total, come back exactly; the last
  /// line needs no newline; CRLF and a BOM on line 1 are stripped.
  @Test func linesUpToTheCapReadExactly() throws {
    let maximum = 100_000
    let expected = (0..<150).map {
      String(repeating: String(UnicodeScalar(UInt8(97 + $0 % 26))), count: $0 * 331 % (maximum + 1))
    }
    let text =
      "\u{FEFF}"
      + expected.enumerated().map { $0.offset % 3 == 0 ? $0.element + "\r" : $0.element }
      .joined(separator: "\n")
    let path = try DataFixtures.temporaryFile(text)
    #expect(try lines(path, maximum: maximum) == expected)
  }

  @Test func aLineLongerThanTheCapNamesItsLine() throws {
    let path = try DataFixtures.temporaryFile("short\n" + String(repeating: "x", count: 1_001) + "\nafter\n")
    #expect(try lines(path, maximum: 1_001) == ["short", String(repeating: "x", count: 1_001), "after"])
    let error = #expect(throws: TrainingError.self) { try lines(path, maximum: 1_000) }
    #expect(error?.description.contains(":2: the line is longer than 1000 B") == true, "\(String(describing: error))")
  }

  @Test func emptyFileAndBlankLines() throws {
    #expect(try lines(try DataFixtures.temporaryFile(""), maximum: 10) == [])
    #expect(try lines(try DataFixtures.temporaryFile("\n\n"), maximum: 10) == ["", ""])
  }
}
