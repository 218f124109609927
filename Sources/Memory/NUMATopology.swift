internal import CNUMA
internal import CShims

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
}
