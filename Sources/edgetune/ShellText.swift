import Foundation

/// `path` made absolute against the working directory, for files other programs will be told about (Modelfiles,
/// printed commands).
func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

/// `text` as one POSIX shell word: unchanged when it is only safe characters, else single-quoted.
func shellQuoted(_ text: String) -> String {
  let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@+,%")
  if !text.isEmpty, text.allSatisfy(safe.contains) { return text }
  return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
