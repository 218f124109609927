import Formats
import Foundation
import Memory

/// stdout for results, stderr for everything else.
enum Output {
  static func result(_ text: String, terminator: String = "\n") {
    FileHandle.standardOutput.write(Data((text + terminator).utf8))
  }

  static func diagnostic(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
  }

  /// Writes `value` as pretty, key-sorted JSON on stdout (a command's --json result).
  static func json(_ value: some Encodable) throws {
    result(String(decoding: try encoded(value), as: UTF8.self))
  }

  /// `value` as pretty, key-sorted JSON (the layout of every JSON file and stdout result the CLI writes).
  static func encoded(_ value: some Encodable) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(value)
  }

  /// `value` as key-sorted JSON on one line, ending in a newline (a line of JSONL output).
  static func jsonLine(_ value: some Encodable) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(value) + Data("\n".utf8)
  }

  /// `error` as the CLI prints it: its message through `displayText`, so that no error, whatever file content it
  /// quotes, puts raw control bytes or a megabyte line on the terminal. The parser's own errors (help requests,
  /// `ValidationError`, `ExitCode`; some of their types are internal to it) pass unchanged: it prints them itself.
  static func printable(_ error: any Error) -> any Error {
    if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { return error }
    // The message the parser would have printed (its rule for localized and Foundation errors), made safe.
    return InputError(
      displayText(
        (error as? any LocalizedError)?.errorDescription
          ?? (type(of: error) is NSError.Type ? (error as NSError).localizedDescription : String(describing: error))))
  }

  /// The kernel's view of this process, for the closing line of a run.
  static func memoryLine() -> String {
    guard let status = try? ProcStatus.current() else { return "memory: unavailable" }
    return "peak RSS \(ByteCount.format(status.vmHWM)) (anonymous \(ByteCount.format(status.rssAnon)), "
      + "file-backed \(ByteCount.format(status.rssFile)) now)"
  }
}

/// A problem with an input the user named (a file that is missing, unreadable or malformed): exit status 1 with the
/// message, as opposed to `ValidationError` for option misuse (status 64 with usage help).
struct InputError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
