import Formats
import Foundation
import Memory

/// A small input file the CLI reads whole (--text, --prompts, a report, a profile preset): a regular file only, so a
/// FIFO or a device named by mistake is refused at once instead of read forever.
enum InputFile {
  /// The bytes of `path`, or an `InputError` that names `what` ("--text") and why the file cannot be read.
  static func read(_ path: String, what: String) throws -> Data {
    do {
      return try MappedFile.contents(ofFile: path)
    } catch {
      throw InputError("cannot read \(what) \(path): \(error.reason)")
    }
  }
}
