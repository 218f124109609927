internal import CShims

/// glibc's heap keeps freed memory for reuse, which makes RSS lag behind what the program holds.
/// These two calls keep the kernel's count honest: large allocations get their own mapping and return on free.
public enum MallocTuning {
  /// Allocations of at least `bytes` are served by their own mmap (glibc's default threshold is dynamic, up to 32 MiB).
  public static func setMmapThreshold(_ bytes: Int = 256 * 1024) {
    _ = edgetune_set_mmap_threshold(Int32(clamping: bytes))
  }

  /// Returns free heap memory to the kernel; call at phase boundaries.
  public static func trim() { _ = edgetune_malloc_trim() }
}
