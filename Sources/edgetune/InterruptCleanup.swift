import Formats
import Foundation
import Glibc

/// SIGINT (Ctrl-C) and SIGTERM end the process without unwinding, so no unfinished writer gets to remove its
/// ".partial-" file or directory. Both signals are blocked before any other thread exists (threads inherit the mask),
/// and one thread waits for them with sigwait(2): it removes every temporary output the process registered
/// (`TemporaryFiles`, outside signal context where removing files is allowed), then re-raises the signal with its
/// default action in itself, so the process still ends by that signal. (A dispatch signal source with SIG_IGN did
/// not do: a busy run ignored the signal.)
enum InterruptCleanup {
  static func install() {
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    pthread_sigmask(SIG_BLOCK, &signals, nil)
    let waited = signals
    Thread {
      var set = waited
      var signalNumber: Int32 = 0
      guard sigwait(&set, &signalNumber) == 0 else { return }
      TemporaryFiles.removeAll {
        signal(signalNumber, SIG_DFL)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        raise(signalNumber)
        _exit(128 + signalNumber)  // not reached: the default action of SIGINT and SIGTERM ends the process
      }
    }.start()
  }
}
