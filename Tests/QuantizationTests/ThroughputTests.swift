import Foundation
import Quantization
import Testing

/// Prints decode throughput; never asserts on time (the machine is shared). Meaningful only in a
/// release build: `swift test -c release --filter ThroughputTests`.
@Suite struct ThroughputTests {
  /// (label, weights per call, calls): tiny in debug builds, where only "it runs" matters.
  #if DEBUG
    static let runs = [("tile", 32_768, 1)]
  #else
    static let runs = [("tile", 32_768, 6_000), ("stream", 1 << 24, 8)]
  #endif

  /// Decodes a cache-resident tile (32 Ki weights, 128 KiB of floats) repeatedly, as inference
  /// does with weight tiles, and a 16 Mi-weight streaming row once per round.
  @Test(arguments: Fixture.goldenTypes)
  func printThroughput(type: GGMLType) throws {
    let block = try Fixture.blocks(type)
    for (label, weights, rounds) in Self.runs {
      let blocks = weights / type.blockSize
      let bytes = blocks * type.bytesPerBlock
      let source = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
      defer { source.deallocate() }
      block.withUnsafeBytes { b in  // tile the golden blocks (sane scales) over the source
        var offset = 0
        while offset < bytes {
          let n = min(b.count, bytes - offset)
          (source + offset).copyMemory(from: b.baseAddress!, byteCount: n)
          offset += n
        }
      }
      let out = UnsafeMutablePointer<Float>.allocate(capacity: weights)
      defer { out.deallocate() }
      ggmlDecode(type, from: source, to: out, count: weights)  // warm up, fault pages in
      let clock = ContinuousClock()
      let elapsed = clock.measure {
        for _ in 0..<rounds { ggmlDecode(type, from: source, to: out, count: weights) }
      }
      let seconds =
        Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
      let rate = Double(weights) * Double(rounds) / seconds
      let padded = type.name.padding(toLength: 5, withPad: " ", startingAt: 0)
      print(
        "throughput \(padded) \(label): \(String(format: "%.2f", rate / 1e9)) G weights/s  (\(out[weights - 1]))"
      )
    }
  }
}
