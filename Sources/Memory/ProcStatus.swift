import Glibc

/// What the kernel counts for this process, from `/proc/self/status` (sizes in bytes).
///
/// VmHWM is the peak resident set: the figure a memory budget bounds. RssAnon is heap, stacks and anonymous
/// mappings (activations, optimizer state); RssFile is mapped file pages (the weights), which the kernel can reclaim.
public struct ProcStatus: Sendable, Equatable, Codable {
  public var vmRSS: Int
  public var vmHWM: Int
  public var rssAnon: Int
  public var rssFile: Int
  public var rssShmem: Int

  /// Reads the calling process's status.
  public static func current() throws(MemoryError) -> ProcStatus {
    try parse(readSmallFile("/proc/self/status"))
  }

  /// Parses the text of a `/proc/PID/status` file; missing fields read as 0 (older kernels lack RssAnon).
  public static func parse(_ text: String) -> ProcStatus {
    let fields = procSizes(text)
    return ProcStatus(
      vmRSS: fields["VmRSS", default: 0], vmHWM: fields["VmHWM", default: 0], rssAnon: fields["RssAnon", default: 0],
      rssFile: fields["RssFile", default: 0], rssShmem: fields["RssShmem", default: 0])
  }

  /// Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs), so the next peak is a phase's own.
  /// Returns false where the kernel does not allow it (some containers).
  @discardableResult
  public static func resetPeak() -> Bool {
    let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return write(fd, "5", 1) == 1
  }
}

/// The "Key: N kB" lines of a /proc file (status, meminfo) as bytes by key; a number without "kB" is kept as it is.
func procSizes(_ text: String) -> [String: Int] {
  var sizes: [String: Int] = [:]
  for line in text.split(separator: "\n") {
    guard let colon = line.firstIndex(of: ":") else { continue }
    let fields = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
    guard let number = fields.first.flatMap({ Int($0) }) else { continue }
    sizes[String(line[..<colon])] = fields.count > 1 && fields[1] == "kB" ? number * 1024 : number
  }
  return sizes
}

/// Reads a small text file (a /proc entry) whole. /proc files report size 0, so read until end of file.
func readSmallFile(_ path: String) throws(MemoryError) -> String {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { throw .procUnreadable(path: path, reason: lastSystemErrorDescription()) }
  defer { close(fd) }
  var data: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 4096)
  while true {
    let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n < 0 { throw .procUnreadable(path: path, reason: lastSystemErrorDescription()) }
    if n == 0 { break }
    data.append(contentsOf: chunk[0..<n])
  }
  return String(decoding: data, as: UTF8.self)
}
