/// The checksums `SafetensorsWriter` records in `edgetune.checksums`: a CRC-32 per tensor, and one of the other
/// metadata under `metadataChecksumName`. Every safetensors file EdgeTune writes carries them (NF4 models, exported
/// models, adapters, optimizer state), and one verification serves all of them.
extension SafetensorsFile {
  /// The name in `edgetune.checksums` of the metadata's own checksum (not a tensor name: safetensors reserves it).
  public static let metadataChecksumName = "__metadata__"

  /// The checksum of the metadata but the checksums themselves: every key and value, keys sorted (a header's order
  /// is not kept when it is read), each followed by a NUL byte.
  static func metadataChecksum(_ metadata: [(String, String)]) -> String {
    var crc = CRC32()
    for (key, value) in metadata.sorted(by: { $0.0 < $1.0 }) where key != SafetensorsWriter.checksumKey {
      for text in [key, value] { (Array(text.utf8) + [0]).withUnsafeBytes { crc.update($0) } }
    }
    return crc.tag
  }

  /// Recomputes every tensor's CRC-32, and the metadata's when the file records it, and compares them with
  /// `edgetune.checksums`; returns the number of tensors checked. A tensor whose bytes or a metadata whose text
  /// changed, a tensor without a checksum, a checksum of no tensor and checksums that are not a JSON object of
  /// strings all fail, naming what is wrong. `progress` gets (tensors done, tensors).
  @discardableResult
  public func verifyChecksums(progress: (Int, Int) -> Void = { _, _ in }) throws(FormatError) -> Int {
    let key = SafetensorsWriter.checksumKey
    guard let text = metadata[key] else { throw .missingMetadata(path: path, key: key) }
    let recorded = try JSONObject(text: text, path: path + " (\(key))")
    var tags: [String: String] = [:]
    for (name, value) in recorded.values {
      guard let tag = value as? String else {
        throw .invalidMetadata(path: path, key: key, reason: "the checksum of '\(displayName(name))' is not a string")
      }
      tags[name] = tag
    }
    if let expected = tags[Self.metadataChecksumName] {
      let found = Self.metadataChecksum(metadata.map { ($0.key, $0.value) })
      guard found == expected else {
        throw .invalidMetadata(
          path: path, key: "__metadata__",
          reason: "its checksum is \(found), the file records \(displayName(expected)): the metadata is damaged")
      }
    }
    for (i, entry) in entries.enumerated() {
      guard let expected = tags[entry.name] else {
        throw .missingMetadata(path: path, key: "\(key).\(entry.name)")
      }
      var crc = CRC32()
      crc.update(try tensor(entry.name).bytes)
      guard crc.tag == expected else {
        throw .checksumMismatch(path: path, tensor: entry.name, expected: expected, found: crc.tag)
      }
      progress(i + 1, entries.count)
    }
    let names = Set(entries.map(\.name))
    if let orphan = tags.keys.sorted().first(where: { $0 != Self.metadataChecksumName && !names.contains($0) }) {
      throw .invalidMetadata(
        path: path, key: key,
        reason: "it records a checksum of '\(displayName(orphan))', a tensor the file does not hold")
    }
    return entries.count
  }
}
