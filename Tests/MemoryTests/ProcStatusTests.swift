import Memory
import Testing

@Suite struct ProcStatusTests {
  /// An excerpt of a real /proc/self/status (Linux 6.x): tabs after the colon, then space padding, then "kB".
  static let sample = """
    Name:\tedgetune
    Umask:\t0022
    State:\tR (running)
    Pid:\t4242
    VmPeak:\t  812344 kB
    VmSize:\t  812340 kB
    VmHWM:\t   65536 kB
    VmRSS:\t   49152 kB
    RssAnon:\t   20480 kB
    RssFile:\t   28160 kB
    RssShmem:\t     512 kB
    VmSwap:\t       0 kB
    Threads:\t3
    voluntary_ctxt_switches:\t17
    """

  @Test func parsesKilobyteFields() {
    let status = ProcStatus.parse(Self.sample)
    #expect(status.vmHWM == 65536 * 1024)
    #expect(status.vmRSS == 49152 * 1024)
    #expect(status.rssAnon == 20480 * 1024)
    #expect(status.rssFile == 28160 * 1024)
    #expect(status.rssShmem == 512 * 1024)
  }

  @Test func missingFieldsReadAsZero() {
    let status = ProcStatus.parse("Name:\tx\nVmRSS:\t100 kB\nRssAnon:\tgarbage kB\nRssFile:\t7\n")
    #expect(status.vmRSS == 102_400)
    #expect(status.rssFile == 7)  // no unit: bytes as written
    #expect(status.vmHWM == 0 && status.rssAnon == 0 && status.rssShmem == 0)
    let empty = ProcStatus.parse("")
    #expect(empty.vmRSS == 0 && empty.vmHWM == 0 && empty.rssAnon == 0 && empty.rssFile == 0 && empty.rssShmem == 0)
  }

  @Test func currentIsSane() throws {
    let status = try ProcStatus.current()
    #expect(status.vmRSS > 0)
    #expect(status.vmHWM >= status.vmRSS)
    #expect(status.rssAnon > 0)
    // RssAnon + RssFile + RssShmem is VmRSS by definition (each read in whole kB).
    #expect(status.rssAnon + status.rssFile + status.rssShmem == status.vmRSS)
  }

  @Test func resetPeakReturnsWithoutCrashing() throws {
    let allowed = ProcStatus.resetPeak()
    let status = try ProcStatus.current()
    // Whether or not the kernel allowed it, the peak can never be below the current resident set.
    #expect(status.vmHWM >= status.vmRSS, "resetPeak returned \(allowed)")
  }
}
