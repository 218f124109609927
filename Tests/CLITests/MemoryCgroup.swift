import Foundation
import Glibc
import Memory

/// A memory cgroup for one child process, as a board's RAM is to the whole program: the kernel charges it every page
/// the child touches (anonymous memory, the page cache of the files it maps, reads and writes, kernel objects) and
/// reclaims or OOM-kills at its limit. Made as a child of the test process's own memory cgroup (cgroup v1's memory
/// hierarchy or the v2 unified one), which needs root: CI runs as root.
struct MemoryCgroup {
  enum Hierarchy: String { case v1, v2 }

  let path: String
  let hierarchy: Hierarchy
  let limitBytes: Int

  enum Failure: Error, CustomStringConvertible {
    case unavailable(String)
    case write(path: String, value: String, reason: String)

    var description: String {
      switch self {
      case .unavailable(let why): "no memory cgroup can be made here: \(why)"
      case .write(let path, let value, let reason): "cannot write \(value) to \(path): \(reason)"
      }
    }
  }

  /// Whether this process can make one (root, and a memory controller mounted).
  static var available: Bool { (try? ownDirectory()) != nil && geteuid() == 0 }

  /// The directory of the memory cgroup this process is in, and which hierarchy it belongs to.
  static func ownDirectory() throws -> (path: String, hierarchy: Hierarchy) {
    let lines = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8).split(separator: "\n")
    // cgroup v1: "4:memory:/path"; the memory controller's own mount.
    if let line = lines.first(where: { $0.split(separator: ":", omittingEmptySubsequences: false)[1] == "memory" }) {
      let relative = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)[2]
      let path = "/sys/fs/cgroup/memory" + relative
      if FileManager.default.fileExists(atPath: path + "/memory.limit_in_bytes") { return (path, .v1) }
    }
    // cgroup v2: "0::/path" under the unified mount, with the memory controller available there.
    if let line = lines.first(where: { $0.hasPrefix("0::") }) {
      let path = "/sys/fs/cgroup" + line.dropFirst(3)
      let controllers = (try? String(contentsOfFile: path + "/cgroup.controllers", encoding: .utf8)) ?? ""
      if controllers.split(separator: " ").contains(where: { $0.trimmingCharacters(in: .whitespaces) == "memory" }) {
        return (path, .v2)
      }
    }
    throw Failure.unavailable("/proc/self/cgroup names no memory controller")
  }

  /// A new child cgroup limited to `limitBytes`, with swap kept out of it (the limit is on RAM, as a board without
  /// swap has).
  static func create(limitBytes: Int) throws -> MemoryCgroup {
    guard geteuid() == 0 else { throw Failure.unavailable("making a cgroup needs root (CI runs as root)") }
    let (parent, hierarchy) = try ownDirectory()
    let path = parent + "/edgetune-test-\(getpid())-\(UUID().uuidString.prefix(8))"
    if hierarchy == .v2 {
      // A v2 child has a memory controller only when its parent delegates it.
      try? write("+memory", to: parent + "/cgroup.subtree_control")
    }
    guard mkdir(path, 0o755) == 0 else {
      throw Failure.unavailable("mkdir \(path): \(String(cString: strerror(errno)))")
    }
    let group = MemoryCgroup(path: path, hierarchy: hierarchy, limitBytes: limitBytes)
    do {
      switch hierarchy {
      case .v1:
        try write("\(limitBytes)", to: path + "/memory.limit_in_bytes")
        try write("0", to: path + "/memory.swappiness")
      case .v2:
        try write("\(limitBytes)", to: path + "/memory.max")
        try? write("0", to: path + "/memory.swap.max")
      }
    } catch {
      group.remove()
      throw error
    }
    return group
  }

  /// Runs `arguments` with the edgetune binary inside the cgroup: a shell joins it, then execs the binary, so every
  /// page the command touches is charged from its first instruction.
  func run(_ arguments: [String]) throws -> CLIResult {
    try CLI.run(
      executable: "/bin/sh",
      ["-c", "echo $$ > \"$0\" && exec \"$@\"", path + "/cgroup.procs", CLI.binary] + arguments)
  }

  /// The most the cgroup was charged at once: anonymous memory and page cache together (v1's
  /// memory.max_usage_in_bytes, v2's memory.peak).
  var peakBytes: Int {
    readNumber(hierarchy == .v1 ? "memory.max_usage_in_bytes" : "memory.peak") ?? 0
  }

  /// How often the charge hit the limit (v1's failcnt; v2's "max" events): each time, the kernel reclaimed pages.
  var limitHits: Int {
    hierarchy == .v1 ? readNumber("memory.failcnt") ?? 0 : readKey("max", in: "memory.events") ?? 0
  }

  /// Processes the kernel's OOM killer ended in this cgroup.
  var oomKills: Int {
    readKey("oom_kill", in: hierarchy == .v1 ? "memory.oom_control" : "memory.events") ?? 0
  }

  /// Removes the (empty) cgroup.
  func remove() { rmdir(path) }

  private func readNumber(_ file: String) -> Int? {
    (try? String(contentsOfFile: path + "/" + file, encoding: .utf8)).flatMap {
      Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
    }
  }

  /// The value of `key` in a "key value" per line file.
  private func readKey(_ key: String, in file: String) -> Int? {
    guard let text = try? String(contentsOfFile: path + "/" + file, encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") {
      let fields = line.split(separator: " ")
      if fields.count == 2, fields[0] == key { return Int(fields[1]) }
    }
    return nil
  }

  private static func write(_ value: String, to file: String) throws {
    do {
      try value.write(toFile: file, atomically: false, encoding: .utf8)
    } catch {
      throw Failure.write(path: file, value: value, reason: "\(error)")
    }
  }
}

/// Drops `path`'s pages from the page cache (written back first), so the next reader faults them in from disk and
/// they are charged to its cgroup, as on a board that has just booted.
func evictFromPageCache(_ path: String) throws {
  let fd = try openRegularFile(path).descriptor
  defer { close(fd) }
  fsync(fd)
  let status = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
  guard status == 0 else {
    throw MemoryCgroup.Failure.unavailable("posix_fadvise(DONTNEED) on \(path): \(String(cString: strerror(status)))")
  }
}

/// The pages of `path` resident in the page cache (mincore over its mapping, which faults nothing in), to show the
/// eviction took.
func residentPages(of path: String) throws -> (resident: Int, total: Int) {
  let file = try MappedFile(path: path)
  guard let base = file.bytes.baseAddress else { return (0, 0) }
  let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
  var vector = [UInt8](repeating: 0, count: (file.bytes.count + pageSize - 1) / pageSize)
  guard mincore(UnsafeMutableRawPointer(mutating: base), file.bytes.count, &vector) == 0 else { return (0, 0) }
  return (vector.filter { $0 & 1 != 0 }.count, vector.count)
}
