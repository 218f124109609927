/// Streams a safetensors file: tensors are appended one at a time in plan order, each checksummed (CRC-32) as it goes
/// by; the header is written last, in the space reserved for it at the start, so the per-tensor checksums can live
/// in `__metadata__`. The data section starts on a page boundary (the header is padded with spaces, which the format
/// allows), so a reader can advise the kernel page range by page range. Atomic: see `AtomicFileWriter`.
/// ref: huggingface/safetensors README (format: u64 header length, JSON header, contiguous byte buffer).
public final class SafetensorsWriter {
  public struct Plan: Sendable {
    public var name: String
    /// safetensors dtype name: "F32", "F16", "BF16", "U8", ...
    public var dtype: String
    public var shape: [Int]
    public var byteCount: Int
    public init(name: String, dtype: String, shape: [Int], byteCount: Int) {
      self.name = name
      self.dtype = dtype
      self.shape = shape
      self.byteCount = byteCount
    }
  }

  /// The metadata key holding `{"__metadata__": "crc32:xxxxxxxx", "tensor": "crc32:xxxxxxxx", ...}` as a JSON string
  /// (`SafetensorsFile.verifyChecksums` reads it).
  public static let checksumKey = "edgetune.checksums"

  public let plans: [Plan]
  public let dataOffset: Int
  private let metadata: [(String, String)]
  private let writer: AtomicFileWriter
  private let headerCapacity: Int
  private var next = 0
  private var checksums: [String] = []
  /// Bytes of the next tensor appended so far by `writePart`, and their running checksum.
  private var partBytes = 0
  private var partCRC = CRC32()

  /// - Parameters: metadata in the order to write it; `pageSize` is the alignment of the data section.
  public init(path: String, plans: [Plan], metadata: [(String, String)], pageSize: Int = 4096) throws(FormatError) {
    self.plans = plans
    self.metadata = metadata
    let placeholder = Array(repeating: "crc32:00000000", count: plans.count)
    let header = Self.header(plans: plans, metadata: metadata, checksums: placeholder)
    // 8-byte length + header, rounded up to a page; the rest of the header is spaces.
    self.dataOffset = (8 + header.count + pageSize - 1) / pageSize * pageSize
    self.headerCapacity = dataOffset - 8
    self.writer = try AtomicFileWriter(path: path)
    try writer.writeZeros(dataOffset)
  }

  /// Appends the next tensor's bytes; the count must match its plan.
  public func write(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
    guard next < plans.count else { throw .writeFailed(path: writer.path, reason: "more tensors written than planned") }
    let plan = plans[next]
    guard partBytes == 0 else {
      throw .writeFailed(path: writer.path, reason: "tensor '\(plan.name)' is being written in parts")
    }
    guard bytes.count == plan.byteCount else {
      throw .writeFailed(
        path: writer.path, reason: "tensor '\(plan.name)' has \(bytes.count) bytes, its plan says \(plan.byteCount)")
    }
    try writer.write(bytes)
    var crc = CRC32()
    crc.update(bytes)
    checksums.append(crc.tag)
    next += 1
  }

  /// Appends part of the next tensor's bytes, for tensors produced piece by piece (synthetic weights): the tensor is
  /// complete, and its checksum recorded, once its parts add up to its plan's byte count.
  public func writePart(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
    guard next < plans.count else { throw .writeFailed(path: writer.path, reason: "more tensors written than planned") }
    let plan = plans[next]
    guard partBytes + bytes.count <= plan.byteCount else {
      throw .writeFailed(
        path: writer.path,
        reason: "tensor '\(plan.name)' gets \(partBytes + bytes.count) bytes, its plan says \(plan.byteCount)")
    }
    try writer.write(bytes)
    partCRC.update(bytes)
    partBytes += bytes.count
    if partBytes == plan.byteCount {
      checksums.append(partCRC.tag)
      partCRC = CRC32()
      partBytes = 0
      next += 1
    }
  }

  /// Appends the next tensor from an array (small tensors: code tables, quant state JSON).
  public func write(_ bytes: [UInt8]) throws(FormatError) {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
    defer { copy.deallocate() }
    copy.copyBytes(from: bytes)
    try write(UnsafeRawBufferPointer(rebasing: copy[0..<bytes.count]))
  }

  /// Writes the header with the checksums and moves the finished file into place.
  public func finish() throws(FormatError) {
    guard next == plans.count else {
      throw .writeFailed(path: writer.path, reason: "only \(next) of \(plans.count) tensors were written")
    }
    var header = Self.header(plans: plans, metadata: metadata, checksums: checksums)
    precondition(header.count <= headerCapacity, "header grew after planning")
    header += [UInt8](repeating: UInt8(ascii: " "), count: headerCapacity - header.count)
    let length = UInt64(headerCapacity)
    try writer.overwrite((0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }, at: 0)
    try writer.overwrite(header, at: 8)
    try writer.finish()
  }

  public var path: String { writer.path }

  /// The JSON header: `__metadata__` first (with the checksums: the metadata's, then each tensor's), then the tensors
  /// in data order.
  static func header(plans: [Plan], metadata: [(String, String)], checksums: [String]) -> [UInt8] {
    var checksumJSON =
      "{" + JSONText.quoted(SafetensorsFile.metadataChecksumName) + ":"
      + JSONText.quoted(SafetensorsFile.metadataChecksum(metadata))
    for (i, plan) in plans.enumerated() {
      checksumJSON += "," + JSONText.quoted(plan.name) + ":" + JSONText.quoted(checksums[i])
    }
    checksumJSON += "}"
    var text = "{\"__metadata__\":{"
    let allMetadata = metadata + [(checksumKey, checksumJSON)]
    for (i, (key, value)) in allMetadata.enumerated() {
      text += (i > 0 ? "," : "") + JSONText.quoted(key) + ":" + JSONText.quoted(value)
    }
    text += "}"
    var offset = 0
    for plan in plans {
      text +=
        "," + JSONText.quoted(plan.name) + ":{\"dtype\":" + JSONText.quoted(plan.dtype) + ",\"shape\":["
        + plan.shape.map(String.init).joined(separator: ",")
        + "],\"data_offsets\":[\(offset),\(offset + plan.byteCount)]}"
      offset += plan.byteCount
    }
    text += "}"
    return Array(text.utf8)
  }
}

/// Minimal JSON text building for files whose key order and exact bytes we control (safetensors headers,
/// tokenizer.json, adapter_config.json).
public enum JSONText {
  /// A JSON string literal: quotes, backslashes and control characters escaped, everything else as UTF-8.
  public static func quoted(_ s: String) -> String {
    var out = "\""
    out.reserveCapacity(s.utf8.count + 2)
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case let c where c.value < 0x20:
        let hex = String(c.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}
