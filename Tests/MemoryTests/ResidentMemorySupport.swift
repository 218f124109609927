import Foundation
import Glibc
import Memory
import Testing

/// Tests that read this process's RssAnon/RssFile around a big allocation. They run one at a time so they do
/// not see each other's pages; the other suites in this process allocate well under a MiB at a time, which is why
/// the margins below (8 MiB on 64 MiB, 4 MiB on 32 MiB) leave room for them and for the kernel's own rounding.
@Suite(.serialized) struct ResidentMemory {}

let mebibyte = 1 << 20
let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

/// A path in the temporary directory unique to this test, removed by the caller.
func temporaryPath(_ name: String) -> String {
  NSTemporaryDirectory() + "edgetune-memorytests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)"
}

/// Writes `count` bytes whose value at offset i is `i % 251` (a prime, so pages differ) through a small reused
/// chunk, so creating the file does not itself put `count` bytes on the heap.
func writePatternFile(_ path: String, count: Int) throws {
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
  guard fd >= 0 else { throw POSIXError(.EIO) }
  defer { close(fd) }
  let chunkSize = 251 * 256  // a multiple of 251 keeps the pattern continuous across chunks
  let chunk = [UInt8]((0..<chunkSize).map { UInt8($0 % 251) })
  var written = 0
  while written < count {
    let n = min(chunkSize, count - written)
    let result = chunk.withUnsafeBytes { write(fd, $0.baseAddress, n) }
    guard result == n else { throw POSIXError(.EIO) }
    written += n
  }
}
