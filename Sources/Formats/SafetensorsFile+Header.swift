extension SafetensorsFile {
  /// What the JSON header holds: `__metadata__`'s string pairs and the tensor entries (in header order, unsorted).
  struct Header {
    var metadata: [String: String]
    var entries: [Entry]
  }

  /// Reads the JSON header `text` (file bytes 8..<`dataOffset`) with `JSONReader`, never building a tree of the
  /// whole header: an .nf4 file's `__metadata__` holds tokenizer.json as one 1.5 MB string, which JSONSerialization
  /// turned into ~11 MB of transient heap (see `WeightPlan.loadPeakBytes`). Here each metadata string is decoded from
  /// the mapping through one buffer reserved at its escaped length (`JSONReader.readString()`), and each tensor's
  /// small entry is read as a `JSONValue`.
  ///
  /// Checks in this order: UTF-8, then JSON syntax over the whole text (`invalidJSON`, with the file offset), so a
  /// damaged header is reported as such before its content is judged; then `__metadata__` (`invalidHeader`), then each
  /// entry (`invalidHeader`, `invalidShape`, `tensorOutOfBounds`). A repeated key keeps its last value, at the top level,
  /// in `__metadata__` and in an entry, as JSONSerialization (the parser this replaced) and serde_json do.
  /// Two things JSONSerialization let through are refused, as safetensors' own reader (serde_json) refuses them: a
  /// trailing comma (`[2, 3,]`, invalid JSON) and a boolean where a number belongs (NSNumber took `true` as 1).
  /// ref: huggingface/safetensors README, "Format"; RFC 8259.
  static func parseHeader(
    _ text: UnsafeBufferPointer<UInt8>, path: String, dataOffset: Int, dataSize: Int
  ) throws(FormatError) -> Header {
    if let offset = JSONReader.firstInvalidUTF8(text) {
      throw .invalidJSON(path: path, reason: "invalid UTF-8 at byte \(8 + offset)")
    }
    // Each top-level key with the offset of its value (the last one, for a repeated key), in first-seen order.
    var names: [String] = []
    var valueOffsets: [String: Int] = [:]
    try reading(path) { () throws(JSONSyntaxError) in
      try JSONReader.validate(text)
      var reader = JSONReader(text)
      try reader.beginObject()
      var count = 0
      var key: [UInt8] = []
      while try reader.nextMember(&count, key: &key) {
        reader.skipSpace()
        let name = String(decoding: key, as: UTF8.self)
        if valueOffsets.updateValue(reader.position, forKey: name) == nil { names.append(name) }
        try reader.skipValue(depth: 1)
      }
    }
    let metadataKey = "__metadata__"
    var metadata: [String: String] = [:]
    if let offset = valueOffsets[metadataKey] {
      metadata = try readMetadata(text, at: offset, path: path)
    }
    var entries: [Entry] = []
    entries.reserveCapacity(names.count)
    for name in names where name != metadataKey {
      let offset = valueOffsets[name]!
      let value = try reading(path) { () throws(JSONSyntaxError) in
        var reader = JSONReader(text, at: offset)
        return try reader.readValue(depth: 1)
      }
      entries.append(
        try entry(
          name: name, value: value, path: path, fileOffset: 8 + offset, dataOffset: dataOffset, dataSize: dataSize))
    }
    return Header(metadata: metadata, entries: entries)
  }

  /// Runs a step of the walk, reporting a syntax error as invalid JSON at its file offset. After `validate` only the
  /// first step can meet one; the later ones map it all the same rather than trap.
  private static func reading<T>(_ path: String, _ body: () throws(JSONSyntaxError) -> T) throws(FormatError) -> T {
    do {
      return try body()
    } catch {
      throw .invalidJSON(path: path, reason: "\(error.message) at byte \(8 + error.offset)")
    }
  }

  /// `__metadata__` at `offset`: an object of string values, every one decoded to a `String`.
  private static func readMetadata(_ text: UnsafeBufferPointer<UInt8>, at offset: Int, path: String)
    throws(FormatError) -> [String: String]
  {
    var reader = JSONReader(text, at: offset)
    guard reader.peek() == .object else {
      throw .invalidHeader(path: path, offset: 8 + offset, reason: "__metadata__ is not an object")
    }
    var metadata: [String: String] = [:]
    // Keys met with a value that is not a string, with its file offset: an error unless a later repeat of the key
    // holds a string (the last value counts).
    var notStrings: [(key: String, offset: Int)] = []
    try reading(path) { () throws(JSONSyntaxError) in
      try reader.beginObject()
      var count = 0
      var key: [UInt8] = []
      while try reader.nextMember(&count, key: &key) {
        let name = String(decoding: key, as: UTF8.self)
        if reader.peek() == .string {
          metadata[name] = try reader.readString()
        } else {
          metadata[name] = nil
          notStrings.append((name, 8 + reader.position))
          try reader.skipValue(depth: 2)
        }
      }
    }
    if let bad = notStrings.first(where: { metadata[$0.key] == nil }) {
      throw .invalidHeader(
        path: path, offset: bad.offset, reason: "__metadata__ value of '\(displayName(bad.key))' is not a string")
    }
    return metadata
  }

  /// One tensor's entry `{"dtype": …, "shape": […], "data_offsets": [begin, end]}` (other keys ignored), checked
  /// against the data section and its dtype's byte size. `fileOffset` is where the entry's value starts in the file.
  private static func entry(
    name: String, value: JSONValue, path: String, fileOffset: Int, dataOffset: Int, dataSize: Int
  ) throws(FormatError) -> Entry {
    guard let fields = value.object, let dtype = fields["dtype"]?.string, let shapeValues = fields["shape"]?.array,
      let offsets = fields["data_offsets"]?.array, offsets.count == 2
    else {
      throw .invalidHeader(
        path: path, offset: fileOffset, reason: "entry '\(displayName(name))' lacks dtype, shape or data_offsets")
    }
    var shape: [Int] = []
    shape.reserveCapacity(shapeValues.count)
    for d in shapeValues {
      guard let i = integer(d), i >= 0 else {
        throw .invalidShape(path: path, tensor: name, reason: "dimension \(d) is not a non-negative integer")
      }
      shape.append(i)
    }
    guard let begin = integer(offsets[0]), let end = integer(offsets[1]), begin >= 0, begin <= end else {
      throw .invalidHeader(
        path: path, offset: fileOffset,
        reason: "entry '\(displayName(name))' has invalid data_offsets \(JSONValue.array(offsets))")
    }
    guard end <= dataSize else {
      throw .tensorOutOfBounds(
        path: path, tensor: name, start: dataOffset + begin, end: dataOffset + end, fileSize: dataOffset + dataSize)
    }
    // Checked for every dtype, unknown ones too: `TensorView.elementCount` multiplies the dimensions.
    guard let elements = checkedElementCount(shape) else {
      throw .invalidShape(path: path, tensor: name, reason: "shape \(shape) overflows")
    }
    let type = elementType(dtype)
    if let expected = type.byteCount(elements: elements) {
      guard expected == end - begin else {
        throw .invalidShape(
          path: path, tensor: name,
          reason: "shape \(shape) of \(dtype) needs \(expected) bytes, data_offsets give \(end - begin)")
      }
    } else if case .unknown = type {
      // Listed for inspection; any attempt to decode it reports the type by name.
    } else {
      throw .invalidShape(
        path: path, tensor: name, reason: "shape \(shape) of \(dtype) has a byte count that overflows")
    }
    return Entry(name: name, dtype: dtype, type: type, shape: shape, range: (dataOffset + begin)..<(dataOffset + end))
  }

  /// A JSON number that is exactly an integer (`4`, and `4.0` or `4e0` as JSONSerialization's NSNumber also gave),
  /// else nil: fractions, values beyond `Int` (1e300; digits past 2^53 round as a Double, as before), strings, and
  /// booleans (JSONSerialization's NSNumber let `true` pass as 1; safetensors' own reader refuses it).
  private static func integer(_ value: JSONValue) -> Int? {
    value.number.flatMap { Int(exactly: $0) }
  }
}
