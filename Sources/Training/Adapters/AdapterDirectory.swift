import Formats
import Foundation
import Glibc

/// Writing an adapter directory atomically, for every method's output (LoRA, soft prompts, …): the files go into a
/// temporary sibling directory ("<directory>.partial-XXXX"), each written and fsynced by the caller's `write`, and
/// the directory is renamed into place, so an interrupted save never leaves a complete-looking adapter directory.
enum AdapterDirectory {
  static let configFileName = "adapter_config.json"
  static let weightsFileName = "adapter_model.safetensors"
  /// PPO's value head beside a policy adapter (TRL keeps it apart from the PEFT weights too).
  static let valueHeadFileName = "value_head.safetensors"

  /// Saves into `directory` by calling `write` with the temporary directory to fill. An existing `directory` is
  /// refused unless `overwrite` and it holds nothing but `configFileName`, `weightsFileName` and a README; it is then
  /// replaced (moved aside, the new one renamed in, the old removed).
  static func save(to directory: String, overwrite: Bool, write: (String) throws -> Void) throws {
    let target = trimmed(directory)
    let files = FileManager.default
    let exists = files.fileExists(atPath: target)
    if exists {
      guard overwrite else {
        throw TrainingError.checkpoint(path: target, reason: "already exists; choose another directory or overwrite")
      }
      try requireReplaceable(target)
    }
    let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    let temporary = target + ".partial-" + suffix
    TemporaryFiles.register(temporary)  // before it exists: an interrupt's cleanup can never miss it
    guard mkdir(temporary, 0o755) == 0 else {
      TemporaryFiles.unregister(temporary)
      throw TrainingError.checkpoint(path: temporary, reason: "cannot create: \(String(cString: strerror(errno)))")
    }
    var placed = false
    defer {
      if !placed { try? files.removeItem(atPath: temporary) }
      TemporaryFiles.unregister(temporary)
    }
    try write(temporary)
    if exists {
      let old = target + ".old-" + suffix
      try rename(target, old)
      do {
        try rename(temporary, target)
      } catch {
        try? rename(old, target)
        throw error
      }
      placed = true
      try? files.removeItem(atPath: old)
    } else {
      try rename(temporary, target)
      placed = true
    }
    syncDirectory(containing: target)
  }

  /// Throws unless `directory` is absent or a directory holding nothing but an adapter's files (`configFileName`,
  /// `weightsFileName`, the value head and a README): what `save` may replace. Runs check it before they start.
  static func requireReplaceable(_ directory: String) throws(TrainingError) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else { return }
    guard isDirectory.boolValue else { throw .checkpoint(path: directory, reason: "is not a directory") }
    let allowed: Set = [configFileName, weightsFileName, "README.md", valueHeadFileName]
    let contents = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    if let other = contents.sorted().first(where: { !allowed.contains($0) }) {
      throw .checkpoint(
        path: directory,
        reason: "holds '\(displayName(other))', which is not part of an adapter; refusing to replace it (choose "
          + "another output directory)")
    }
  }

  /// Writes `config` as adapter_config.json and every tensor of `parameters` as F32 into `temporary`, the directory
  /// `save` hands its `write` closure.
  static func writeFiles(
    in temporary: String, config: some Encodable, parameters: ParameterStore,
    metadata: [(String, String)] = [("format", "pt")]
  ) throws {
    try AdapterConfigFile.write(config, in: temporary)
    let plans = parameters.tensors.map {
      SafetensorsWriter.Plan(name: $0.name, dtype: "F32", shape: $0.shape, byteCount: $0.count * 4)
    }
    let writer = try SafetensorsWriter(path: temporary + "/" + weightsFileName, plans: plans, metadata: metadata)
    for tensor in parameters.tensors { try writer.write(UnsafeRawBufferPointer(tensor.value)) }
    try writer.finish()
  }

  /// Fills every tensor of `parameters` from the F32 tensor of the same name and shape in `weights` (checksums
  /// verified when the file has ours), refusing, by name, a missing or misshapen tensor and, unless
  /// `allowingOthers`, a tensor `parameters` does not have.
  static func readTensors(
    into parameters: ParameterStore, from weights: SafetensorsFile, allowingOthers: Bool = false
  ) throws {
    func fail(_ reason: String) -> TrainingError { .checkpoint(path: weights.path, reason: reason) }
    if weights.metadata[SafetensorsWriter.checksumKey] != nil { try AdamW.verifyChecksums(weights) }
    if !allowingOthers, let other = weights.entries.first(where: { parameters[$0.name] == nil }) {
      throw fail("unexpected tensor '\(other.name)'")
    }
    for tensor in parameters.tensors {
      guard let entry = weights.entry(tensor.name) else { throw fail("tensor '\(tensor.name)' is missing") }
      guard entry.shape == tensor.shape, entry.dtype == "F32" else {
        throw fail("'\(entry.name)' is \(entry.dtype) \(entry.shape), expected F32 \(tensor.shape)")
      }
      UnsafeMutableRawBufferPointer(tensor.value).copyMemory(from: try weights.tensor(tensor.name).bytes)
    }
  }

  /// The two files of an adapter directory, checked to exist.
  static func files(in directory: String) throws -> (config: String, weights: String) {
    let directory = trimmed(directory)
    let configPath = directory + "/" + configFileName
    let weightsPath = directory + "/" + weightsFileName
    for path in [configPath, weightsPath] where !FileManager.default.fileExists(atPath: path) {
      throw TrainingError.checkpoint(
        path: path, reason: "missing: a PEFT adapter directory holds \(configFileName) and \(weightsFileName)")
    }
    return (configPath, weightsPath)
  }

  static func trimmed(_ path: String) -> String {
    var path = path
    while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
    return path
  }

  static func rename(_ from: String, _ to: String) throws {
    guard Glibc.rename(from, to) == 0 else {
      throw TrainingError.checkpoint(
        path: to, reason: "cannot rename \(from) into place: \(String(cString: strerror(errno)))")
    }
  }

  /// fsync of the parent directory, so the rename itself is durable.
  static func syncDirectory(containing path: String) {
    let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
    let fd = open(parent.isEmpty ? "/" : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 {
      _ = fsync(fd)
      close(fd)
    }
  }
}
