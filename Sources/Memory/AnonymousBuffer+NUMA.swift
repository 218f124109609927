internal import CNUMA
internal import CShims

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
