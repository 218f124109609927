import Formats
import Foundation
import Memory
import Testing

@testable import Model

/// What loading SmolLM2's tokenizer.json costs the process: the tables kept (counted, and asserted compact) and the
/// kernel's view (RssAnon kept, VmHWM during the load), printed; and the same for the .nf4 file's header and the
/// tokenizer built from it. Runs in release builds or when EDGETUNE_BENCH=1; run it alone
/// (`--filter TokenizerMemoryTests`) for clean kernel figures, as other tests share the process. The tests run one at
/// a time: each resets the process's VmHWM.
@Suite(.serialized) struct TokenizerMemoryTests {
  static let enabled = TokenizerBenchmarkTests.enabled

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

  /// The .nf4 file the demo set-up converts (Tools/demo), whose header holds tokenizer.json as a metadata string.
  static let nf4Path =
    ModelFixtures.environment["EDGETUNE_NF4"] ?? ModelFixtures.cache + "/demo/SmolLM2-135M-Instruct.nf4"

  /// The load transients `WeightPlan.loadPeakBytes` plans for the text: parsing the .nf4 header (the metadata strings,
  /// tokenizer.json among them), then the tokenizer built from its copy of that text; with the time each takes.
  /// Printed, not asserted: the plan's check is BudgetTests, on a child process.
  @Test(
    ".nf4 header and tokenizer load: kernel peak",
    .enabled(if: enabled && FileManager.default.fileExists(atPath: nf4Path)))
  func nf4LoadMemory() throws {
    MallocTuning.trim()
    let before = Self.status()
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    let clock = ContinuousClock()
    let start = clock.now
    let file = try NF4ModelFile(path: Self.nf4Path)
    let headerTime = clock.now - start
    let headerPeak = Self.status()
    let tokenizer = try BPETokenizer(tokenizerJSON: file.tokenizerJSON, source: Self.nf4Path)
    let tokenizerTime = clock.now - start - headerTime
    let loadPeak = Self.status()
    let text = file.file.metadata["edgetune.tokenizer"]?.utf8.count ?? 0
    let rss = before["VmRSS"] ?? 0
    print(
      "nf4 load memory: header \(file.file.dataOffset / 1024) KiB, tokenizer text \(text / 1024) KiB; "
        + "VmHWM after the header = RSS before + \((headerPeak["VmHWM"] ?? 0) - rss) KiB, "
        + "after the tokenizer (\(tokenizer.vocabularySize) tokens) + \((loadPeak["VmHWM"] ?? 0) - rss) KiB; "
        + "header \(Int(headerTime.seconds * 1000)) ms, tokenizer \(Int(tokenizerTime.seconds * 1000)) ms")
    #expect(tokenizer.vocabularySize > 0)
  }
}
