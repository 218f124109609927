import Memory
import Testing

@Suite struct ByteCountTests {
  @Test(arguments: [
    ("0", 0), ("512", 512), ("512B", 512), ("512 b", 512),
    ("1k", 1024), ("1K", 1024), ("1KiB", 1024), ("1kb", 1000), ("1KB", 1000),
    ("512MiB", 512 << 20), ("3M", 3 << 20), ("3MB", 3_000_000),
    ("1.5G", 3 << 29), ("1.5GB", 1_500_000_000), ("2 GiB", 2 << 30),
    ("2TiB", 2 << 40), ("2t", 2 << 40), ("1TB", 1_000_000_000_000),
    (" 300k ", 300 * 1024), ("\t0.5KiB\t", 512), (".5k", 512), ("1.25 MiB", 1_310_720),
    ("8388607TiB", 9_223_370_937_343_148_032),  // (2^23 - 1) · 2^40, the largest whole TiB count that fits
  ])
  func parsesUnits(_ text: String, _ bytes: Int) {
    #expect(ByteCount.parse(text) == bytes, "\(text)")
  }

  @Test(arguments: [
    "", " ", "abc", "MiB", "-5", "-5MiB", "1.2.3", "12 parsecs", "1e3", "1_000", "1,5G", "5 K B", "nan", "inf",
    ".", "0x10", "1 0", "1KiBs",
  ])
  func rejectsMalformed(_ text: String) {
    #expect(ByteCount.parse(text) == nil, "\(text)")
  }

  /// Sizes at or beyond Int.max bytes are refused rather than trapped or wrapped.
  @Test(arguments: [
    "8388608TiB",  // exactly 2^63
    "9223372036854775807",  // Int.max rounds up to 2^63 as a Double
    "99999999999TB",
    String(repeating: "9", count: 400),  // beyond Double's range
  ])
  func rejectsOverflow(_ text: String) {
    #expect(ByteCount.parse(text) == nil)
  }

  @Test(arguments: [
    (0, "0 B"), (1, "1 B"), (1023, "1023 B"), (-512, "-512 B"),
    (1024, "1.0 KiB"), (1536, "1.5 KiB"), (10 * 1024 + 512, "10.5 KiB"), (-2048, "-2.0 KiB"),
    (1 << 20, "1.0 MiB"), (12_897_485, "12.3 MiB"),
    (1 << 30, "1.00 GiB"), (3 << 29, "1.50 GiB"), (1 << 40, "1024.00 GiB"),
    // Just below a unit boundary the rounded figure belongs to the next unit, not "1024.0" of this one.
    ((1 << 20) - 1, "1.0 MiB"), ((1 << 30) - 1, "1.00 GiB"),
  ])
  func formats(_ bytes: Int, _ text: String) {
    #expect(ByteCount.format(bytes) == text)
  }

  @Test func formatsExtremesWithoutTrapping() {
    #expect(ByteCount.format(Int.max).hasSuffix(" GiB"))
    #expect(ByteCount.format(Int.min + 1).hasSuffix(" GiB"))
  }
}
