import Formats
import Foundation
import Quantization
import Testing

/// `GGUFWriter` against our reader (`GGUFFile`) and against the `gguf` Python package, plus its failure modes:
/// wrong byte counts, unfinished and abandoned writers (which must leave nothing behind) and invalid plans.
struct GGUFWriterTests {
  /// Every metadata value type, arrays of numbers and strings, an empty array and an array of arrays.
  static let metadata: [(String, GGUFValue)] = [
    ("general.architecture", .string("llama")),
    ("general.name", .string("EdgeTune tiny ✓")),
    ("test.u8", .uint8(200)),
    ("test.i8", .int8(-100)),
    ("test.u16", .uint16(60000)),
    ("test.i16", .int16(-30000)),
    ("test.u32", .uint32(4_000_000_000)),
    ("test.i32", .int32(-2_000_000_000)),
    ("test.f32", .float32(3.25)),
    ("test.bool", .bool(true)),
    ("test.u64", .uint64(UInt64.max - 1)),
    ("test.i64", .int64(Int64.min + 1)),
    ("test.f64", .float64(-1.0e-300)),
    ("test.ints", .array([.int32(1), .int32(-2), .int32(3)])),
    ("test.strings", .array([.string("a b"), .string(""), .string("Ġthe")])),
    ("test.empty", .array([])),
  ]
  static let nested: (String, GGUFValue) = (
    "test.nested", .array([.array([.uint8(1)]), .array([.uint8(2), .uint8(3)])])
  )

  /// F32 (3, 5), F16 (2, 32), Q8_0 (2, 64) and a 1-D F32 (7): shapes row-major, with deterministic contents.
  static let plans = [
    GGUFTensorPlan(name: "a.f32", shape: [3, 5], type: .f32),
    GGUFTensorPlan(name: "b.f16", shape: [2, 32], type: .f16),
    GGUFTensorPlan(name: "c.q8_0", shape: [2, 64], type: .q8_0),
    GGUFTensorPlan(name: "d.bias", shape: [7], type: .f32),
  ]

  static func contents(_ plan: GGUFTensorPlan) -> [UInt8] {
    let elements = plan.shape.reduce(1, *)
    switch plan.type {
    case .f32:
      return (0..<elements).map { Float($0) * 0.5 - 1 }.withUnsafeBytes { Array($0) }
    case .f16:
      return (0..<elements).map { halfBitsFromFloat(Float($0) * 0.25) }.withUnsafeBytes { Array($0) }
    default:
      // Q8_0 blocks of 34 bytes: an f16 scale of 0.5, then 32 int8 weights.
      var bytes: [UInt8] = []
      for block in 0..<(elements / 32) {
        withUnsafeBytes(of: halfBitsFromFloat(0.5).littleEndian) { bytes += $0 }
        bytes += (0..<32).map { UInt8(bitPattern: Int8(truncatingIfNeeded: block * 7 + $0 - 16)) }
      }
      return bytes
    }
  }

  @discardableResult
  static func write(
    _ path: String, metadata: [(String, GGUFValue)] = metadata, plans: [GGUFTensorPlan] = plans, alignment: Int = 32
  ) throws -> GGUFWriter {
    let writer = try GGUFWriter(path: path, metadata: metadata, tensors: plans, alignment: alignment)
    for plan in plans { try contents(plan).withUnsafeBytes { try writer.writeTensor($0) } }
    try writer.finish()
    return writer
  }

  /// Names in a directory, sorted.
  static func listing(_ path: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: path).sorted()
  }

  @Test("metadata of every type and F32/F16/Q8_0 tensors round-trip through GGUFFile", arguments: [32, 64])
  func roundTrip(alignment: Int) throws {
    try withTemporaryDirectory { dir in
      let path = dir.path + "/model.gguf"
      let writer = try Self.write(path, metadata: Self.metadata + [Self.nested], alignment: alignment)
      let file = try GGUFFile(path: path)
      #expect(file.version == 3)
      #expect(file.alignment == alignment)
      #expect(file.dataOffset == writer.dataOffset && file.dataOffset % alignment == 0)
      #expect(file.fileSize == writer.fileSize && file.fileSize % alignment == 0)
      let expectedKeys = (Self.metadata + [Self.nested]).map(\.0) + (alignment == 32 ? [] : ["general.alignment"])
      #expect(file.metadataKeys == expectedKeys)
      for (key, value) in Self.metadata + [Self.nested] { #expect(file.metadata[key] == value, "\(key)") }
      #expect(file.tensors.map(\.name) == Self.plans.map(\.name))
      for (plan, offset) in zip(Self.plans, writer.tensorOffsets) {
        let info = try #require(file.info(plan.name))
        #expect(info.shape == plan.shape && info.type == plan.type && info.offset == offset)
        let view = try file.tensor(plan.name)
        let expected = Self.contents(plan)
        #expect(view.byteCount == expected.count)
        #expect(Array(UnsafeRawBufferPointer(start: view.data, count: view.byteCount)) == expected, "\(plan.name)")
      }
      #expect(try Self.listing(dir.path) == ["model.gguf"])
    }
  }

  @Test("a file of no tensors and an explicit general.alignment")
  func noTensors() throws {
    try withTemporaryDirectory { dir in
      let path = dir.path + "/empty.gguf"
      try Self.write(path, metadata: [("general.alignment", .uint32(64))], plans: [], alignment: 64)
      let file = try GGUFFile(path: path)
      #expect(file.tensors.isEmpty && file.alignment == 64 && file.metadataKeys == ["general.alignment"])
    }
  }

  @Test("a wrong byte count or one tensor too many throws writeFailed naming the file and tensor")
  func wrongByteCount() throws {
    try withTemporaryDirectory { dir in
      let path = dir.path + "/model.gguf"
      let writer = try GGUFWriter(path: path, metadata: [], tensors: Self.plans)
      let short = Array(Self.contents(Self.plans[0]).dropLast())
      let error = #expect(throws: FormatError.self) { try short.withUnsafeBytes { try writer.writeTensor($0) } }
      guard case .writeFailed(let errorPath, let reason) = error else {
        Issue.record("expected writeFailed, got \(String(describing: error))")
        return
      }
      #expect(errorPath == path && reason.contains("a.f32") && reason.contains("59 bytes"))
      for plan in Self.plans { try Self.contents(plan).withUnsafeBytes { try writer.writeTensor($0) } }
      #expect(writer.nextTensor == nil)
      #expect(throws: FormatError.self) {
        try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try writer.writeTensor($0) }
      }
      try writer.finish()
      #expect(try GGUFFile(path: path).tensors.count == Self.plans.count)
    }
  }

  @Test("tensors appended in uneven parts (an empty one among them) give the file whole tensors give")
  func partsMatchWholeTensors() throws {
    try withTemporaryDirectory { dir in
      let whole = dir.path + "/whole.gguf"
      try Self.write(whole, alignment: 64)
      let path = dir.path + "/parts.gguf"
      let writer = try GGUFWriter(path: path, metadata: Self.metadata, tensors: Self.plans, alignment: 64)
      for plan in Self.plans {
        let bytes = Self.contents(plan)
        var start = 0
        for size in [1, 0] + Array(repeating: 7, count: bytes.count) where start < bytes.count {
          #expect(writer.nextTensor == plan)
          let end = min(bytes.count, start + size)
          try bytes[start..<end].withUnsafeBytes { try writer.writeTensorPart($0) }
          start = end
        }
      }
      #expect(writer.nextTensor == nil)
      try writer.finish()
      #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(contentsOf: URL(fileURLWithPath: whole)))
    }
  }

  @Test("a part past its tensor's end, a whole write into a tensor begun in parts, and finish mid-tensor throw")
  func partMisuse() throws {
    try withTemporaryDirectory { dir in
      let path = dir.path + "/model.gguf"
      do {
        let writer = try GGUFWriter(path: path, metadata: [], tensors: Self.plans)
        let first = Self.contents(Self.plans[0])  // a.f32: 60 bytes
        try first[0..<20].withUnsafeBytes { try writer.writeTensorPart($0) }
        let over = #expect(throws: FormatError.self) { try first.withUnsafeBytes { try writer.writeTensorPart($0) } }
        #expect(over?.description.contains("'a.f32'") == true && over?.description.contains("80 bytes") == true)
        let whole = #expect(throws: FormatError.self) { try first.withUnsafeBytes { try writer.writeTensor($0) } }
        #expect(whole?.description.contains("'a.f32' is being written in parts") == true)
        let early = #expect(throws: FormatError.self) { try writer.finish() }
        #expect(early?.description.contains("0 of 4 tensors") == true)
        #expect(early?.description.contains("20 of its 60 bytes") == true)
        // The rejected writes changed nothing: the rest of the tensor completes it.
        try first[20...].withUnsafeBytes { try writer.writeTensorPart($0) }
        #expect(writer.nextTensor == Self.plans[1])
      }
      #expect(try Self.listing(dir.path).isEmpty)
    }
  }

  @Test("finish before every tensor is written throws and leaves no file, nor a temporary one")
  func finishEarly() throws {
    try withTemporaryDirectory { dir in
      let path = dir.path + "/model.gguf"
      do {
        let writer = try GGUFWriter(path: path, metadata: Self.metadata, tensors: Self.plans)
        try Self.contents(Self.plans[0]).withUnsafeBytes { try writer.writeTensor($0) }
        let error = #expect(throws: FormatError.self) { try writer.finish() }
        #expect(error?.description.contains("1 of 4 tensors") == true)
        #expect(error?.description.contains(path) == true)
        #expect(!FileManager.default.fileExists(atPath: path))
      }
      #expect(try Self.listing(dir.path).isEmpty)
    }
  }

  @Test("an abandoned writer leaves an existing file untouched and removes its temporary file")
  func interrupted() throws {
    try withTemporaryDirectory { dir in
      let path = dir.path + "/model.gguf"
      do {
        let writer = try GGUFWriter(path: path, metadata: Self.metadata, tensors: Self.plans)
        try Self.contents(Self.plans[0]).withUnsafeBytes { try writer.writeTensor($0) }
        #expect(try Self.listing(dir.path).count == 1)  // the temporary file
        #expect(!FileManager.default.fileExists(atPath: path))
      }
      #expect(try Self.listing(dir.path).isEmpty)

      try dir.write("old contents", to: "model.gguf")
      do {
        let writer = try GGUFWriter(path: path, metadata: [], tensors: Self.plans)
        try Self.contents(Self.plans[0]).withUnsafeBytes { try writer.writeTensor($0) }
      }
      #expect(try Self.listing(dir.path) == ["model.gguf"])
      #expect(try String(contentsOfFile: path, encoding: .utf8) == "old contents")
      try Self.write(path)
      #expect(try GGUFFile(path: path).tensors.count == Self.plans.count)
    }
  }

  @Test("invalid plans throw before any file is made")
  func invalidPlans() throws {
    try withTemporaryDirectory { (dir) throws in
      let path = dir.path + "/model.gguf"
      func expectFailure(
        _ metadata: [(String, GGUFValue)], _ plans: [GGUFTensorPlan], alignment: Int = 32, _ fragment: String
      ) {
        let error = #expect(throws: FormatError.self) {
          try GGUFWriter(path: path, metadata: metadata, tensors: plans, alignment: alignment)
        }
        #expect(error?.description.contains(fragment) == true, "\(String(describing: error))")
      }
      expectFailure([("k", .array([.int32(1), .string("x")]))], [], "array item 1")
      expectFailure([("k", .uint8(1)), ("k", .uint8(2))], [], "appears twice")
      expectFailure([("general.alignment", .uint32(32))], [], alignment: 64, "disagrees")
      expectFailure([], [], alignment: 48, "power of two")
      expectFailure([], [GGUFTensorPlan(name: "q", shape: [2, 33], type: .q8_0)], "block of 32")
      expectFailure([], [GGUFTensorPlan(name: "r", shape: [1, 1, 1, 1, 1], type: .f32)], "1 to 4")
      expectFailure([], [GGUFTensorPlan(name: "z", shape: [0], type: .f32)], "1 to 4")
      expectFailure([], [Self.plans[0], Self.plans[0]], "appears twice")
      #expect(try Self.listing(dir.path).isEmpty)
    }
  }

  /// The reference tools' Python: $EDGETUNE_PYTHON (Tools/test exports it), else the venv Tools/test makes in the
  /// user's cache.
  static let python =
    ProcessInfo.processInfo.environment["EDGETUNE_PYTHON"] ?? NSHomeDirectory() + "/.cache/edgetune/venv/bin/python"
  /// Where Tools/test runs (EDGETUNE_REQUIRE_MODEL=1) the check must run, and fail without its Python, never skip.
  static let pythonRequired = ProcessInfo.processInfo.environment["EDGETUNE_REQUIRE_MODEL"] == "1"
  static let havePythonGGUF: Bool = {
    if pythonRequired { return true }
    guard FileManager.default.isExecutableFile(atPath: python) else { return false }
    return (try? runPython("import gguf")) != nil
  }()

  /// Runs a Python snippet with `arguments` as `sys.argv[1...]`; returns stdout, throws on a non-zero exit.
  static func runPython(_ script: String, _ arguments: [String] = []) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", script] + arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    let stderr = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw CocoaError(
        .fileReadUnknown,
        userInfo: [NSLocalizedDescriptionKey: "python failed: " + String(decoding: stderr, as: UTF8.self)])
    }
    return String(decoding: stdout, as: UTF8.self)
  }

  struct PythonView: Decodable {
    struct Tensor: Decodable {
      var name: String
      var shape: [Int]
      var type: String
      var head: [Double]
    }
    var tensors: [Tensor]
    var name: String
    var strings: [String]
    var u64: UInt64
    var f64: Double
    var alignment: Int
  }

  @Test(
    "the gguf Python package reads the file: names, shapes, types, values, metadata",
    .enabled(if: havePythonGGUF, "needs the venv with gguf (Tools/reference/requirements.txt)"), arguments: [32, 64])
  func pythonReadsIt(alignment: Int) throws {
    try withTemporaryDirectory { dir in
      let path = dir.path + "/model.gguf"
      try Self.write(path, alignment: alignment)
      let script = """
        import json, sys, gguf
        r = gguf.GGUFReader(sys.argv[1])
        def head(t):
            d = t.data.reshape(-1)
            return [float(x) for x in d[:6]]
        print(json.dumps({
            "tensors": [{"name": t.name, "shape": [int(d) for d in t.shape], "type": t.tensor_type.name,
                         "head": head(t)} for t in r.tensors],
            "name": r.fields["general.name"].contents(),
            "strings": r.fields["test.strings"].contents(),
            "u64": int(r.fields["test.u64"].contents()),
            "f64": float(r.fields["test.f64"].contents()),
            "alignment": int(r.alignment),
        }))
        """
      let output = try Self.runPython(script, [path])
      let view = try JSONDecoder().decode(PythonView.self, from: Data(output.utf8))
      #expect(view.name == "EdgeTune tiny ✓")
      #expect(view.strings == ["a b", "", "Ġthe"])
      #expect(view.u64 == UInt64.max - 1 && view.f64 == -1.0e-300)
      #expect(view.alignment == alignment)
      #expect(view.tensors.map(\.name) == Self.plans.map(\.name))
      for (tensor, plan) in zip(view.tensors, Self.plans) {
        // gguf-py reports GGUF dimensions: innermost first.
        #expect(tensor.shape == plan.shape.reversed(), "\(plan.name)")
        #expect(tensor.type == plan.type.name, "\(plan.name)")
      }
      #expect(view.tensors[0].head == [-1, -0.5, 0, 0.5, 1, 1.5])
      #expect(view.tensors[1].head == [0, 0.25, 0.5, 0.75, 1, 1.25])
      // Q8_0 comes back as raw bytes: the f16 scale 0.5 (0x3800, little-endian), then -16, -15, ... as int8.
      #expect(view.tensors[2].head == [0x00, 0x38, 240, 241, 242, 243])
    }
  }
}
