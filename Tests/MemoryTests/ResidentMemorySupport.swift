import Foundation
import Glibc
import Memory
import Testing

/// Tests that read this process's RssAnon/RssFile around a big allocation. They run one at a time so they do
/// not see each other's pages. Two kinds of evidence:
/// - the mapping's own line in /proc/self/smaps: exact, and no other test can disturb it;
/// - the process-wide RssAnon/RssFile the reporter uses: shared with every test running concurrently in this
///   process (the full suite runs model forward passes beside these), so margins of 8 MiB on 64 MiB and 4 MiB on
///   32 MiB, and `retrying`: a disturbed reading is measured again, a real regression fails every attempt.
@Suite(.serialized) struct ResidentMemory {}

/// Runs `experiment` (which returns what went wrong, empty when all held) up to `attempts` times, and records the
/// last attempt's failures as issues only when no attempt succeeded.
func retrying(
  attempts: Int = 3, sourceLocation: SourceLocation = #_sourceLocation, _ experiment: () throws -> [String]
) rethrows {
  var failures: [String] = []
  for _ in 0..<attempts {
    failures = try experiment()
    if failures.isEmpty { return }
  }
  for failure in failures {
    Issue.record(Comment(rawValue: "\(failure) (failed \(attempts) attempts)"), sourceLocation: sourceLocation)
  }
}

/// The fields (in bytes) of the /proc/self/smaps entry of the mapping that contains `address`, e.g. "Rss",
/// "Anonymous"; nil if no mapping contains it. Adjacent anonymous mappings may be merged into one entry.
func smapsEntry(containing address: UnsafeRawPointer) -> [String: Int]? {
  let target = UInt(bitPattern: address)
  let fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { return nil }
  defer { close(fd) }
  var bytes: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 1 << 16)
  while true {
    let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n <= 0 { break }
    bytes += chunk[0..<n]
  }
  var fields: [String: Int]? = nil
  for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
    let tokens = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
    guard let first = tokens.first else { continue }
    if first.hasSuffix(":") {
      if fields != nil, tokens.count >= 2, let value = Int(tokens[1]) {
        fields![String(first.dropLast())] = tokens.count > 2 && tokens[2] == "kB" ? value * 1024 : value
      }
    } else {
      if fields != nil { return fields }  // the next mapping's header ends ours
      let bounds = first.split(separator: "-")
      if bounds.count == 2, let low = UInt(bounds[0], radix: 16), let high = UInt(bounds[1], radix: 16),
        low <= target && target < high
      {
        fields = [:]
      }
    }
  }
  return fields
}

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
