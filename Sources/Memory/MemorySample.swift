/// One sample of the process's memory: the kernel's counts from /proc/self/status and the ledger's account.
public struct MemorySample: Codable, Sendable, Equatable {
  /// Seconds since the run started.
  public var seconds: Double
  /// The run phase at the time: load, forward, backward, optimizer, eval, save, ...
  public var phase: String
  public var rss: Int
  public var rssAnon: Int
  public var rssFile: Int
  public var hwm: Int
  public var ledger: Int
  public var ledgerByLabel: [String: Int]
  public init(
    seconds: Double, phase: String, rss: Int, rssAnon: Int, rssFile: Int, hwm: Int, ledger: Int,
    ledgerByLabel: [String: Int]
  ) {
    self.seconds = seconds
    self.phase = phase
    self.rss = rss
    self.rssAnon = rssAnon
    self.rssFile = rssFile
    self.hwm = hwm
    self.ledger = ledger
    self.ledgerByLabel = ledgerByLabel
  }
}
