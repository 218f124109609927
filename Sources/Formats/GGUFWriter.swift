public import Quantization

/// One tensor a `GGUFWriter` will write: its name, row-major shape and ggml type.
public struct GGUFTensorPlan: Sendable, Equatable {
  public var name: String
  /// Row-major, outermost first (as `TensorView.shape`); written reversed as GGUF dimensions (ne[0] = row length).
  public var shape: [Int]
  public var type: GGMLType

  public init(name: String, shape: [Int], type: GGMLType) {
    self.name = name
    self.shape = shape
    self.type = type
  }

  /// Bytes of data for this shape and type, nil when the shape is invalid or the count overflows.
  public var byteCount: Int? { checkedElementCount(shape).flatMap { type.byteCount(elements: $0) } }
}

/// Streams a GGUF v3 file: the whole header (metadata in the given order, then tensor infos with aligned offsets) is
/// computed and validated in `init`, before any file exists; tensor data is then appended in plan order, one tensor
/// at a time or in parts (`writeTensorPart`), so a converter never holds more than a block of one tensor. Atomic: see
/// `AtomicFileWriter` (temporary file beside `path`, 1 MiB buffer, fsync and rename in `finish`; a writer released
/// unfinished removes its temporary file).
/// ref: ggml docs/gguf.md ("GGUF" file format specification, version 3, little-endian).
///
/// ```swift
/// let writer = try GGUFWriter(path: out, metadata: [("general.architecture", .string("llama"))], tensors: plans)
/// for plan in plans { try bytes(of: plan).withUnsafeBytes { try writer.writeTensor($0) } }
/// try writer.finish()
/// ```
public final class GGUFWriter {
  public let path: String
  public let plans: [GGUFTensorPlan]
  public let alignment: Int
  /// Offset of each tensor from the start of the data section, as written in its tensor info, (plans.count).
  public let tensorOffsets: [Int]
  /// Absolute offset of the data section (the header size rounded up to `alignment`).
  public let dataOffset: Int
  /// Total size of the finished file.
  public let fileSize: Int
  private let byteCounts: [Int]
  private let writer: AtomicFileWriter
  private var next = 0
  /// Bytes of the next tensor appended so far by `writeTensorPart`.
  private var partBytes = 0

  /// Validates the plan, encodes the header and writes it into a new temporary file beside `path`.
  ///
  /// `general.alignment` is added (as u32, after the given metadata) when `alignment` is not GGUF's default of 32 and
  /// the metadata does not already state it; a stated value must equal `alignment`. Empty arrays are written with
  /// element type string (GGUF needs one; most arrays that can be empty are string lists).
  /// - Throws: `FormatError.invalidMetadata` (duplicate key, mixed-type array, bad alignment),
  ///   `.invalidShape` (rank outside 1...4, row length not a multiple of the type's block, overflow, duplicate name),
  ///   `.writeFailed` when the temporary file cannot be created or written (with the errno text).
  public init(path: String, metadata: [(String, GGUFValue)], tensors: [GGUFTensorPlan], alignment: Int = 32)
    throws(FormatError)
  {
    guard alignment > 0, alignment <= 1 << 20, alignment & (alignment - 1) == 0 else {
      throw .invalidMetadata(path: path, key: "general.alignment", reason: "\(alignment) is not a power of two")
    }
    var metadata = metadata
    var keys: Set<String> = []
    for (key, value) in metadata {
      guard keys.insert(key).inserted else {
        throw .invalidMetadata(path: path, key: key, reason: "the key appears twice")
      }
      if key == "general.alignment", value.int != alignment {
        throw .invalidMetadata(
          path: path, key: key, reason: "\(value.summary) disagrees with the writer's alignment \(alignment)")
      }
    }
    if alignment != 32, !keys.contains("general.alignment") {
      metadata.append(("general.alignment", .uint32(UInt32(alignment))))
    }

    var offsets: [Int] = []
    var counts: [Int] = []
    var names: Set<String> = []
    var end = 0
    for plan in tensors {
      guard names.insert(plan.name).inserted else {
        throw .invalidShape(path: path, tensor: plan.name, reason: "the name appears twice")
      }
      guard (1...4).contains(plan.shape.count), plan.shape.allSatisfy({ $0 > 0 }) else {
        throw .invalidShape(
          path: path, tensor: plan.name, reason: "shape \(plan.shape) (GGUF needs 1 to 4 positive dimensions)")
      }
      guard plan.shape.last! % plan.type.blockSize == 0 else {
        throw .invalidShape(
          path: path, tensor: plan.name,
          reason:
            "row length \(plan.shape.last!) is not a multiple of \(plan.type.name)'s block of \(plan.type.blockSize)")
      }
      guard let bytes = plan.byteCount, end <= Int.max - bytes - alignment else {
        throw .invalidShape(path: path, tensor: plan.name, reason: "byte count overflows")
      }
      end = Self.align(end, alignment)
      offsets.append(end)
      counts.append(bytes)
      end += bytes
    }

    var header = HeaderBytes()
    header.u32(GGUFFile.magic)
    header.u32(3)
    header.u64(UInt64(tensors.count))
    header.u64(UInt64(metadata.count))
    for (key, value) in metadata {
      header.string(key)
      header.u32(Self.typeID(of: value))
      try header.value(value, key: key, path: path)
    }
    for (plan, offset) in zip(tensors, offsets) {
      header.string(plan.name)
      header.u32(UInt32(plan.shape.count))
      for d in plan.shape.reversed() { header.u64(UInt64(d)) }
      header.u32(plan.type.rawValue)
      header.u64(UInt64(offset))
    }

    self.path = path
    self.plans = tensors
    self.alignment = alignment
    self.tensorOffsets = offsets
    self.byteCounts = counts
    self.dataOffset = Self.align(header.bytes.count, alignment)
    self.fileSize = dataOffset + Self.align(end, alignment)
    let file = try AtomicFileWriter(path: path)
    let headerBytes = header.bytes
    // Through a Result: `withUnsafeBytes` rethrows untyped errors inside an initializer.
    try headerBytes.withUnsafeBytes { raw in Result { () throws(FormatError) in try file.write(raw) } }.get()
    try file.writeZeros(dataOffset - headerBytes.count)
    self.writer = file
  }

  /// The plan of the tensor `writeTensor` expects next, nil when all are written.
  public var nextTensor: GGUFTensorPlan? { next < plans.count ? plans[next] : nil }

  /// Appends the bytes of the next tensor in plan order (padding before it to its aligned offset).
  /// - Throws: `FormatError.writeFailed` when every tensor is already written, the next one is being written in parts,
  ///   the byte count differs from `type.byteCount(elements:)` of the plan, or the write fails (disk full: the errno
  ///   text says so).
  public func writeTensor(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
    if next < plans.count, partBytes > 0 {
      throw .writeFailed(path: path, reason: "tensor '\(plans[next].name)' is being written in parts")
    }
    if next < plans.count, bytes.count != byteCounts[next] {
      throw .writeFailed(
        path: path,
        reason: "tensor '\(plans[next].name)' (\(plans[next].type.name) \(plans[next].shape)) got \(bytes.count) "
          + "bytes; it needs \(byteCounts[next])")
    }
    try writeTensorPart(bytes)
  }

  /// Appends part of the next tensor's bytes, for tensors produced piece by piece (converters stream blocks of rows):
  /// the tensor is complete once its parts add up to its byte count, and the next part starts the next tensor.
  /// - Throws: `FormatError.writeFailed` when every tensor is already written, the parts would exceed the tensor's
  ///   byte count, or the write fails.
  public func writeTensorPart(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
    guard next < plans.count else {
      throw .writeFailed(path: path, reason: "more tensors written than the \(plans.count) planned")
    }
    let plan = plans[next]
    guard partBytes + bytes.count <= byteCounts[next] else {
      throw .writeFailed(
        path: path,
        reason: "tensor '\(plan.name)' (\(plan.type.name) \(plan.shape)) got \(partBytes + bytes.count) bytes; it "
          + "needs \(byteCounts[next])")
    }
    if partBytes == 0 { try writer.writeZeros(dataOffset + tensorOffsets[next] - writer.position) }
    try writer.write(bytes)
    partBytes += bytes.count
    if partBytes == byteCounts[next] {
      partBytes = 0
      next += 1
    }
  }

  /// Pads the data section to the alignment, fsyncs, and renames the file onto `path`.
  /// - Throws: `FormatError.writeFailed` if not every planned tensor was written (nothing appears at `path`).
  public func finish() throws(FormatError) {
    guard next == plans.count else {
      let part = partBytes > 0 ? ", \(partBytes) of its \(byteCounts[next]) bytes" : ""
      throw .writeFailed(
        path: path,
        reason:
          "only \(next) of \(plans.count) tensors were written (next: '\(plans[next].name)'\(part)); no file was made")
    }
    try writer.writeZeros(fileSize - writer.position)
    try writer.finish()
  }

  static func align(_ offset: Int, _ alignment: Int) -> Int { (offset + alignment - 1) / alignment * alignment }

  /// GGUF value type id (`gguf_metadata_value_type`).
  static func typeID(of value: GGUFValue) -> UInt32 {
    switch value {
    case .uint8: 0
    case .int8: 1
    case .uint16: 2
    case .int16: 3
    case .uint32: 4
    case .int32: 5
    case .float32: 6
    case .bool: 7
    case .string: 8
    case .array: 9
    case .uint64: 10
    case .int64: 11
    case .float64: 12
    }
  }
}

/// Little-endian header encoding for `GGUFWriter`: the header is small next to the tensors, so it is built in memory.
private struct HeaderBytes {
  var bytes: [UInt8] = []

  mutating func int<T: FixedWidthInteger>(_ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }
  mutating func u32(_ value: UInt32) { int(value) }
  mutating func u64(_ value: UInt64) { int(value) }

  /// A GGUF string: u64 byte length, then the UTF-8 bytes (no terminator).
  mutating func string(_ s: String) {
    u64(UInt64(s.utf8.count))
    bytes.append(contentsOf: s.utf8)
  }

  /// A value without its type id; arrays write their element type and count, and must hold one type.
  mutating func value(_ value: GGUFValue, key: String, path: String) throws(FormatError) {
    switch value {
    case .uint8(let v): int(v)
    case .int8(let v): int(v)
    case .uint16(let v): int(v)
    case .int16(let v): int(v)
    case .uint32(let v): int(v)
    case .int32(let v): int(v)
    case .float32(let v): int(v.bitPattern)
    case .bool(let v): int(UInt8(v ? 1 : 0))
    case .string(let v): string(v)
    case .uint64(let v): int(v)
    case .int64(let v): int(v)
    case .float64(let v): int(v.bitPattern)
    case .array(let items):
      let type = items.first.map(GGUFWriter.typeID) ?? 8
      u32(type)
      u64(UInt64(items.count))
      for (index, item) in items.enumerated() {
        guard GGUFWriter.typeID(of: item) == type else {
          throw .invalidMetadata(
            path: path, key: key, reason: "array item \(index) is \(item.summary), not of the first item's type")
        }
        try self.value(item, key: key, path: path)
      }
    }
  }
}
