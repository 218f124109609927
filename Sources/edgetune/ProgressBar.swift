import Foundation
import Glibc
import Memory

/// A progress bar on stderr: redrawn in place on a terminal, a line every 10% otherwise (logs, CI).
final class ProgressBar {
  private let title: String
  private let total: Int
  private let start = ContinuousClock.now
  private let interactive = isatty(STDERR_FILENO) == 1
  private var lastDraw = ContinuousClock.now - .seconds(1)
  private var lastDecile = -1

  init(_ title: String, total: Int) {
    self.title = title
    self.total = max(total, 1)
  }

  /// Reports `done` of `total`; `detail` is appended (the current tensor, a loss ...).
  func update(_ done: Int, detail: String = "") {
    let fraction = min(1, Double(done) / Double(total))
    let now = ContinuousClock.now
    if interactive {
      guard now - lastDraw >= .milliseconds(100) || done >= total else { return }
      lastDraw = now
      let width = 30
      let filled = Int(fraction * Double(width))
      let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
      let line = "\r\(title) \(bar) \(Int(fraction * 100))% \(elapsed(now)) \(rss()) \(detail)"
      FileHandle.standardError.write(Data((line.prefix(160) + "\u{1B}[K").utf8))
    } else {
      let decile = Int(fraction * 10)
      guard decile > lastDecile else { return }
      lastDecile = decile
      Output.diagnostic("\(title): \(decile * 10)% \(elapsed(now)) \(rss()) \(detail)")
    }
  }

  /// Ends the bar's line.
  func finish() {
    if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
  }

  private func elapsed(_ now: ContinuousClock.Instant) -> String {
    String(
      format: "%.1fs", Double((now - start).components.seconds) + Double((now - start).components.attoseconds) * 1e-18)
  }

  private func rss() -> String {
    (try? ProcStatus.current()).map { "RSS \(ByteCount.format($0.vmRSS))" } ?? ""
  }
}
