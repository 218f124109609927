import Formats
import Foundation

/// Where a run's result goes, checked and cleared before the run starts.
extension FineTuneConfiguration {
  /// Fails, naming the path and the conflict, when the result could not be saved: `output` exists and is not an
  /// adapter directory the run may replace, its directory does not take new files, or the checkpoints' place is a
  /// file. Checked before anything is loaded, so a run never trains only to lose its result.
  public func checkOutput() throws {
    try OutputPath.requireCreatable(output, as: .directory)
    try AdapterDirectory.requireReplaceable(output)
    if saveEvery > 0 { try OutputPath.requireCreatable(checkpointDirectory, as: .directory) }
  }

  /// Removes what a run into the same output left when it was killed without a chance to clean up (SIGKILL, a power
  /// cut; SIGINT and SIGTERM clean up themselves): `output`'s ".partial-" siblings (an adapter being saved) and the
  /// ".partial-" checkpoints in `checkpointDirectory`. Returns the paths removed, for the run to say so. (".old-"
  /// siblings are kept: one can be the previous adapter, moved aside just before the new one was renamed in.)
  public func removeLeftovers() -> [String] {
    let files = FileManager.default
    let target = output.hasSuffix("/") ? String(output.dropLast()) : output
    let name = (target as NSString).lastPathComponent
    var removed: [String] = []
    func sweep(_ directory: String, _ isLeftover: (String) -> Bool) {
      let directory = directory.isEmpty ? "." : directory
      for entry in (try? files.contentsOfDirectory(atPath: directory)) ?? [] where isLeftover(entry) {
        let path = (directory as NSString).appendingPathComponent(entry)
        if (try? files.removeItem(atPath: path)) != nil { removed.append(path) }
      }
    }
    sweep((target as NSString).deletingLastPathComponent) { $0.hasPrefix(name + ".partial-") }
    sweep(checkpointDirectory) { $0.hasPrefix("checkpoint-") && $0.contains(".partial-") }
    return removed
  }
}
