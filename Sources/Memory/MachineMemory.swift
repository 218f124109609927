/// The machine's memory as the kernel reports it (/proc/meminfo): RAM plus swap, the most any plan can ever use. A
/// run planned beyond it cannot finish whatever budget it is given, so it is refused before it starts.
public enum MachineMemory {
  /// MemTotal plus SwapTotal in bytes; nil when the kernel does not say.
  public static var totalBytes: Int? {
    guard let text = try? readSmallFile("/proc/meminfo"), let ram = procSizes(text)["MemTotal"] else { return nil }
    return ram + procSizes(text)["SwapTotal", default: 0]
  }
}
