import Foundation
import Memory
import Testing

@testable import Model

/// What loading SmolLM2's tokenizer.json costs the process: the tables kept (counted, and asserted compact) and the
/// kernel's view (RssAnon kept, VmHWM during the load), printed beside it. Runs in release builds or when
/// EDGETUNE_BENCH=1; run it alone (`--filter TokenizerMemoryTests`) for clean kernel figures, as other tests share the
/// process.
@Suite struct TokenizerMemoryTests {
  #if DEBUG
    static let enabled = TokenizerFixtures.environment["EDGETUNE_BENCH"] == "1"
  #else
    static let enabled = true
  #endif

  /// `VmHWM`, `VmRSS` and `RssAnon` of this process, in KiB.
  static func status() -> [String: Int] {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    var values: [String: Int] = [:]
    for line in text.split(separator: "\n") {
      let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " || $0 == "\t" })
      if parts.count >= 2, ["VmHWM", "VmRSS", "RssAnon"].contains(String(parts[0])) {
        values[String(parts[0])] = Int(parts[1])
      }
    }
    return values
  }

  @Test(
    "tokenizer.json load: tables kept and kernel peak",
    .enabled(if: enabled && FileManager.default.fileExists(atPath: TokenizerFixtures.tokenizerJSONPath)))
  func loadMemory() throws {
    let bytes = try TokenizerFixtures.bytes(TokenizerFixtures.tokenizerJSONPath)
    MallocTuning.trim()
    let before = Self.status()
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    let tokenizer = try BPETokenizer(tokenizerJSON: bytes, source: "smollm2.json")
    let peak = Self.status()
    MallocTuning.trim()
    let after = Self.status()
    let kib = 1024
    print(
      "tokenizer memory: \(tokenizer.vocabularySize) tokens, tables \(tokenizer.tableBytes / kib) KiB "
        + "(\(tokenizer.tableBytes / tokenizer.vocabularySize) B/token); text \(bytes.count / kib) KiB; "
        + "RssAnon +\((after["RssAnon"] ?? 0) - (before["RssAnon"] ?? 0)) KiB kept; "
        + "VmHWM \(peak["VmHWM"] ?? 0) KiB = RSS before + \((peak["VmHWM"] ?? 0) - (before["VmRSS"] ?? 0)) KiB")
    #expect(tokenizer.tableBytes < tokenizer.vocabularySize * 64)
  }
}
