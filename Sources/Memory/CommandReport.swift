/// A command's --json result: its own fields (`Result`) and the memory it used, side by side in one flat object, as
/// every edgetune command that runs a model prints them. Tests decode the same type.
public struct CommandReport<Result: Codable>: Codable {
  public var result: Result
  public var memory: MemoryFigures

  public init(_ result: Result, memory: MemoryFigures) {
    self.result = result
    self.memory = memory
  }

  public init(from decoder: any Decoder) throws {
    result = try Result(from: decoder)
    memory = try MemoryFigures(from: decoder)
  }

  public func encode(to encoder: any Encoder) throws {
    try result.encode(to: encoder)
    try memory.encode(to: encoder)
  }
}

/// The kernel's peak resident set (VmHWM) and the memory ledger's peaks, total and by label, at a command's end.
public struct MemoryFigures: Codable {
  public var peakRSSBytes: Int
  public var ledgerPeakBytes: Int
  public var ledgerPeakBytesByLabel: [String: Int]

  /// `ledger`'s peaks and `peakRSS`, or the kernel's VmHWM now (0 when /proc cannot be read).
  public init(ledger: MemoryLedger, peakRSS: Int? = nil) {
    let snapshot = ledger.snapshot()
    peakRSSBytes = peakRSS ?? (try? ProcStatus.current().vmHWM) ?? 0
    ledgerPeakBytes = snapshot.peakBytes
    ledgerPeakBytesByLabel = snapshot.peakByLabel
  }

  enum CodingKeys: String, CodingKey {
    case peakRSSBytes = "peak_rss_bytes"
    case ledgerPeakBytes = "ledger_peak_bytes"
    case ledgerPeakBytesByLabel = "ledger_peak_bytes_by_label"
  }
}
