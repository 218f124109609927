import Foundation
import Testing

@testable import Model

/// Encoding speed on ~1 MB of the corpus, printed, never asserted. Runs in release builds
/// (`swift test -c release`) or when EDGETUNE_BENCH=1.
struct TokenizerBenchmarkTests {
  #if DEBUG
    static let enabled = TokenizerFixtures.environment["EDGETUNE_BENCH"] == "1"
  #else
    static let enabled = true
  #endif

  @Test("encode speed on 1 MB", .enabled(if: enabled && smolLM2Available))
  func encodeSpeed() throws {
    let tokenizer = try smolLM2Tokenizer()
    let corpus = try String(
      contentsOf: TokenizerFixtures.directory.appendingPathComponent("tokenizer_corpus.txt"), encoding: .utf8)
    var text = ""
    var round = 0
    while text.utf8.count < 1 << 20 {
      text += corpus + " \(round)\n"  // vary the text a little between copies
      round += 1
    }
    _ = tokenizer.encode(String(text.prefix(10_000)))  // warm up
    let ids = measure("corpus repeated", text, tokenizer)
    let clock = ContinuousClock()
    let decodeElapsed = clock.measure { _ = tokenizer.decode(ids) }
    print("tokenizer decode: \(decodeElapsed) for \(ids.count) tokens")
    // Random words (seeded), so the per-call word cache rarely hits: the BPE merge loop's own speed.
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next(_ bound: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((state >> 33) % UInt64(bound))
    }
    let letters = Array("abcdefghijklmnopqrstuvwxyzéüßжд学习")
    var random = ""
    while random.utf8.count < 1 << 20 {
      for _ in 0..<(3 + next(10)) { random.append(letters[next(letters.count)]) }
      random += next(12) == 0 ? ".\n" : " "
    }
    _ = measure("random words", random, tokenizer)
  }

  func measure(_ label: String, _ text: String, _ tokenizer: BPETokenizer) -> [Int32] {
    let clock = ContinuousClock()
    var ids: [Int32] = []
    let elapsed = clock.measure { ids = tokenizer.encode(text) }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    let megabytes = Double(text.utf8.count) / 1e6
    print(
      "tokenizer encode (\(label)): \(ids.count) tokens from \(String(format: "%.2f", megabytes)) MB in "
        + "\(String(format: "%.3f", seconds)) s = \(Int(Double(ids.count) / seconds)) tokens/s, "
        + "\(String(format: "%.2f", megabytes / seconds)) MB/s")
    #expect(!ids.isEmpty)
    return ids
  }
}
