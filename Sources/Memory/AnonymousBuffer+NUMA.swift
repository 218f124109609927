internal import CNUMA
internal import CShims
import Glibc

extension AnonymousBuffer {
  /// Asks the kernel to place this buffer's pages on NUMA node `node` when they are first touched (mbind with
  /// MPOL_PREFERRED: a full node spills to another rather than failing). Call before writing to the buffer.
  public func prefer(numaNode node: Int) throws(MemoryError) {
    guard node >= 0 && node < 64 else {
      throw .allocationFailed(label: label, bytes: count, reason: "NUMA node \(node) is out of range")
    }
    var mask: UInt = 1 << UInt(node)
    let bytes = max(count * MemoryLayout<Element>.stride, 1)
    let result = mbind(UnsafeMutableRawPointer(pointer), UInt(bytes), MPOL_PREFERRED, &mask, 65, 0)
    guard result == 0 else {
      throw .allocationFailed(
        label: label, bytes: bytes, reason: "cannot place it on NUMA node \(node): \(lastSystemErrorDescription())")
    }
  }
}

extension AnonymousBuffer {
  /// Where the kernel put this buffer's pages: pages by NUMA node, for the pages touched so far (untouched pages
  /// have no node and are left out). Asked of the kernel with move_pages and no target nodes, which only queries.
  public func pagesByNUMANode() -> [Int: Int] {
    let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    let bytes = count * MemoryLayout<Element>.stride
    let pageCount = (bytes + pageSize - 1) / pageSize
    guard pageCount > 0 else { return [:] }
    let base = UnsafeMutableRawPointer(pointer)
    var pages: [UnsafeMutableRawPointer?] = (0..<pageCount).map { base + $0 * pageSize }
    var status = [Int32](repeating: -1, count: pageCount)
    guard move_pages(0, UInt(pageCount), &pages, nil, &status, 0) == 0 else { return [:] }
    var counts: [Int: Int] = [:]
    for node in status where node >= 0 { counts[Int(node), default: 0] += 1 }
    return counts
  }
}
