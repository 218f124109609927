internal import CShims
import Glibc

/// The text of the calling thread's current errno, read right after a failed system call.
func lastSystemErrorDescription() -> String {
  let code = edgetune_errno()
  guard let text = strerror(code) else { return "errno \(code)" }
  return String(cString: text)
}
