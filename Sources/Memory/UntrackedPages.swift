import Glibc

/// A test hook: `bytes` of pages the watchdog and the ledger never hear of, touched and given back at once, so only
/// the kernel's high-water mark (VmHWM) remembers them. Tests prove each command's end-of-run budget check with it.
public func touchUntrackedPages(bytes: Int) {
  // mmap/munmap rather than malloc/free: the optimizer may delete a malloc, memset and free whose bytes are never
  // read, and then no page would be touched.
  let pointer = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
  guard let pointer, pointer != MAP_FAILED else { return }
  memset(pointer, 1, bytes)
  munmap(pointer, bytes)
}
