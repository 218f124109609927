import Formats
import Foundation
import Glibc
import Testing

/// A fresh directory under the system temp directory, removed when `body` returns (or throws).
func withTemporaryDirectory<T>(_ body: (TemporaryDirectory) throws -> T) throws -> T {
  let dir = try TemporaryDirectory()
  defer { try? FileManager.default.removeItem(atPath: dir.path) }
  return try body(dir)
}

struct TemporaryDirectory {
  let path: String

  init() throws {
    path = FileManager.default.temporaryDirectory.appendingPathComponent("FormatsTests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  /// Writes `bytes` to `name` inside the directory (replacing it) and returns the full path.
  @discardableResult
  func write(_ bytes: [UInt8], to name: String) throws -> String {
    // fopen/fwrite rather than Data.write, which fsyncs: the fuzz tests write thousands of files.
    let file = (path as NSString).appendingPathComponent(name)
    guard let handle = fopen(file, "wb") else { throw CocoaError(.fileWriteUnknown) }
    defer { fclose(handle) }
    guard bytes.isEmpty || fwrite(bytes, 1, bytes.count, handle) == bytes.count else {
      throw CocoaError(.fileWriteUnknown)
    }
    return file
  }

  @discardableResult
  func write(_ text: String, to name: String) throws -> String { try write(Array(text.utf8), to: name) }
}

extension FormatError {
  /// The longest message a damaged file may produce: the path plus a few names and reasons, each cut short.
  static let longestMessage = 2_000

  /// Records an issue unless the message is fit for a terminal (issue 22: a damaged length field made one print
  /// 600 KB of raw binary): no control characters, no more than `longestMessage` characters.
  func expectPrintable(_ context: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
    let text = description
    let control = text.unicodeScalars.first { $0.value < 0x20 || $0.value == 0x7f || (0x80...0x9f).contains($0.value) }
    #expect(
      control == nil, "\(context()): control character \(control.map { String($0.value, radix: 16) } ?? "")",
      sourceLocation: sourceLocation)
    #expect(
      text.count <= Self.longestMessage, "\(context()): a message of \(text.count) characters",
      sourceLocation: sourceLocation)
  }

  /// The case name, so a test can say which error it expects without spelling out every payload.
  var caseName: String {
    switch self {
    case .truncated: "truncated"
    case .badMagic: "badMagic"
    case .unsupportedVersion: "unsupportedVersion"
    case .invalidHeader: "invalidHeader"
    case .tensorOutOfBounds: "tensorOutOfBounds"
    case .invalidShape: "invalidShape"
    case .unsupportedType: "unsupportedType"
    case .missingTensor: "missingTensor"
    case .missingFile: "missingFile"
    case .missingMetadata: "missingMetadata"
    case .invalidMetadata: "invalidMetadata"
    case .invalidJSON: "invalidJSON"
    case .writeFailed: "writeFailed"
    case .checksumMismatch: "checksumMismatch"
    }
  }
}

/// Runs `body`, which must throw a `FormatError` of case `caseName` whose description names `path`; returns the
/// error for further checks (nil after recording an issue).
@discardableResult
func expectFormatError(
  _ caseName: String, naming path: String, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> Void
) -> FormatError? {
  do {
    try body()
    Issue.record("expected FormatError.\(caseName), but nothing was thrown", sourceLocation: sourceLocation)
    return nil
  } catch let error as FormatError {
    #expect(error.caseName == caseName, "\(error)", sourceLocation: sourceLocation)
    #expect(
      error.description.contains(path), "description does not name \(path): \(error)", sourceLocation: sourceLocation)
    return error
  } catch {
    Issue.record("expected FormatError.\(caseName), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    return nil
  }
}

/// SplitMix64: a tiny seeded generator so fuzz failures reproduce.
/// ref: Steele, Lea, Flood, "Fast splittable pseudorandom number generators" (OOPSLA 2014).
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
