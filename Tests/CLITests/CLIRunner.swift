import Foundation

/// Runs the built `edgetune` executable as a child process, the way a user or script would.
struct CLIResult {
  var status: Int32
  /// False when the child died of a signal (a trap or crash) instead of exiting.
  var exited: Bool
  var stdout: String
  var stderr: String

  /// stdout decoded as `type`: the command's --json result, as the command's own type.
  func decoded<T: Decodable>(_ type: T.Type) throws -> T {
    do {
      return try JSONDecoder().decode(type, from: Data(stdout.utf8))
    } catch {
      throw CLIError.notJSON("\(error): \(stdout)")
    }
  }
}

/// The top-level keys of a JSON object, for the one check that holds the names users and scripts read.
struct JSONKeys: Decodable {
  var keys: Set<String>

  struct Key: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }

  init(from decoder: any Decoder) throws {
    keys = Set(try decoder.container(keyedBy: Key.self).allKeys.map(\.stringValue))
  }
}

enum CLIError: Error {
  case notJSON(String)
  case binaryMissing(String)
}

enum CLI {
  static let environment = ProcessInfo.processInfo.environment
  static let cache = environment["EDGETUNE_CACHE"] ?? (NSHomeDirectory() + "/.cache/edgetune")
  static let modelPath = environment["EDGETUNE_MODEL"] ?? cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
  static let hfCopyPath = environment["EDGETUNE_HF_COPY"] ?? cache + "/models/smollm2-135m-hf-f32"
  static let required = environment["EDGETUNE_REQUIRE_MODEL"] == "1"
  static var haveModel: Bool { required || FileManager.default.fileExists(atPath: modelPath) }
  static var haveHFCopy: Bool { required || FileManager.default.fileExists(atPath: hfCopyPath + "/config.json") }
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("ModelTests/Fixtures")

  /// The executable beside the test bundle (swift test builds it into the same products directory).
  static let binary: String = {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
      let candidate = directory.appendingPathComponent("edgetune").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      directory = directory.deletingLastPathComponent()
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    for configuration in ["release", "debug"] {
      let candidate = root.appendingPathComponent(".build/\(configuration)/edgetune").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return "edgetune"
  }()

  /// Runs `executable` (the edgetune binary unless given) with `arguments`.
  static func run(executable: String = binary, _ arguments: [String]) throws -> CLIResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes to the end before waiting, so a chatty child never blocks on a full pipe.
    let errData = LockedData()
    let errReader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    errReader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errData.isSet { usleep(1000) }
    return CLIResult(
      status: process.terminationStatus, exited: process.terminationReason == .exit,
      stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData.value, as: UTF8.self))
  }

  /// The JSON file at `path` (a run's report, a profile) decoded as `type`.
  static func decode<T: Decodable>(_ type: T.Type, file path: String) throws -> T {
    try JSONDecoder().decode(type, from: Data(contentsOf: URL(fileURLWithPath: path)))
  }

  /// A fresh temporary directory, removed by the caller with `cleanUp`.
  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("edgetune-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }
}

/// Data handed from the stderr reader thread.
final class LockedData: @unchecked Sendable {
  // @unchecked Sendable: every access goes through the lock.
  private let lock = NSLock()
  private var data: Data?
  func set(_ value: Data) {
    lock.lock()
    data = value
    lock.unlock()
  }
  var isSet: Bool {
    lock.lock()
    defer { lock.unlock() }
    return data != nil
  }
  var value: Data {
    lock.lock()
    defer { lock.unlock() }
    return data ?? Data()
  }
}
