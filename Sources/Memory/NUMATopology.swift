internal import CNUMA
internal import CShims
import Glibc

/// What libnuma says about this machine's memory nodes; the paging optimizer places state on the local node.
public enum NUMATopology {
  /// False where the kernel or libnuma report NUMA unavailable (then everything is one node).
  public static var isAvailable: Bool { numa_available() >= 0 }

  /// Number of configured memory nodes (1 where NUMA is unavailable).
  public static var nodeCount: Int { isAvailable ? Int(numa_max_node()) + 1 : 1 }

  /// The node of the CPU the calling thread is running on, or nil if the kernel does not say.
  public static var currentNode: Int? {
    var node: Int32 = -1
    return edgetune_current_cpu(&node) >= 0 && node >= 0 ? Int(node) : nil
  }

  /// The CPUs of `node` (libnuma's view), empty where it does not say.
  public static func cpus(ofNode node: Int) -> [Int] {
    guard isAvailable, node >= 0, node < nodeCount, let mask = numa_allocate_cpumask() else { return [] }
    defer { numa_free_cpumask(mask) }
    guard numa_node_to_cpus(Int32(node), mask) == 0 else { return [] }
    return (0..<Int(mask.pointee.size)).filter { numa_bitmask_isbitset(mask, UInt32($0)) != 0 }
  }

  /// Runs every thread of this process (the workers, BLAS's, the caller) on the CPUs of `nodes` only, so that memory
  /// placed on them is local to whoever touches it; threads made later inherit the binding from their maker.
  /// Binding to every node undoes it. Returns the number of threads bound.
  @discardableResult
  public static func bindProcess(toNodes nodes: [Int]) throws(MemoryError) -> Int {
    let cpus = nodes.flatMap { Self.cpus(ofNode: $0) }
    guard !cpus.isEmpty else { throw .numa(reason: "NUMA nodes \(nodes) have no CPUs libnuma can name") }
    let list = cpus.map { Int32($0) }
    var bound = 0
    for tid in threadIDs() {
      // A thread that ended since the listing is no failure; any other refusal is.
      if edgetune_bind_thread(tid, list, Int32(list.count)) == 0 {
        bound += 1
      } else if edgetune_errno() != ESRCH {
        throw .numa(reason: "cannot bind thread \(tid) to the CPUs of nodes \(nodes): \(lastSystemErrorDescription())")
      }
    }
    return bound
  }

  /// The ids of this process's threads (/proc/self/task).
  static func threadIDs() -> [Int32] {
    guard let directory = opendir("/proc/self/task") else { return [] }
    defer { closedir(directory) }
    var ids: [Int32] = []
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      if let id = Int32(name) { ids.append(id) }
    }
    return ids
  }
}
