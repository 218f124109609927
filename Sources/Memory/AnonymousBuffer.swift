import Glibc

/// A page-aligned anonymous mapping of `count` elements, reserved in a `MemoryLedger` under a label and the only
/// owner of its memory: unmapped and released in `deinit`. Pages are zero and are not resident until first written.
///
/// Used for activations, KV caches, scratch tiles and (later) optimizer state: anything big and short-lived enough
/// that it must go back to the kernel when freed, which glibc's heap does not promise.
public struct AnonymousBuffer<Element: BitwiseCopyable>: ~Copyable, @unchecked Sendable {
  // @unchecked Sendable: the owner hands out pointers; callers that write from several threads split the range.
  public let count: Int
  public let label: String
  public let pointer: UnsafeMutablePointer<Element>
  private let byteCount: Int
  private let ledger: MemoryLedger

  public init(count: Int, label: String, ledger: MemoryLedger) throws(MemoryError) {
    precondition(count >= 0, "negative buffer size")
    let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
    guard !overflow else { throw .allocationFailed(label: label, bytes: Int.max, reason: "size overflows") }
    // mmap refuses length 0; one page keeps the pointer valid and costs nothing until touched.
    let mapped = max(bytes, 1)
    try ledger.reserve(mapped, label: label)
    guard let address = mmap(nil, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
      address != MAP_FAILED
    else {
      ledger.release(mapped, label: label)
      throw .allocationFailed(label: label, bytes: bytes, reason: lastSystemErrorDescription())
    }
    self.count = count
    self.label = label
    self.byteCount = mapped
    self.ledger = ledger
    self.pointer = address.bindMemory(to: Element.self, capacity: max(count, 1))
  }

  deinit {
    munmap(UnsafeMutableRawPointer(pointer), byteCount)
    ledger.release(byteCount, label: label)
  }

  public var buffer: UnsafeMutableBufferPointer<Element> { UnsafeMutableBufferPointer(start: pointer, count: count) }

  /// Sets every element's bytes to zero.
  public func zero() { memset(UnsafeMutableRawPointer(pointer), 0, count * MemoryLayout<Element>.stride) }
}
