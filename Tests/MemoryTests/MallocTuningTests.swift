import Memory
import Testing

@Suite struct MallocTuningTests {
  /// The effect on RSS is measured by the CLI's memory tests; here only that the calls are safe, including a
  /// threshold beyond Int32 (clamped; glibc then ignores it). Ends on the 256 KiB threshold the CLI sets.
  @Test func callsDoNotCrash() {
    MallocTuning.setMmapThreshold()
    MallocTuning.setMmapThreshold(Int.max)
    MallocTuning.setMmapThreshold(256 * 1024)
    MallocTuning.trim()
  }
}
