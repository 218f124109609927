import Foundation
import Glibc
import Memory
import Testing

@testable import edgetune

/// `edgetune convert` end to end: the real model to NF4 and back (safetensors, GGUF), checked by the other verbs and
/// by the independent numpy checker; failures that must leave nothing under the output name.
@Suite(.serialized) struct ConvertTests {
  /// The real model converted once for the tests that read the result (a 72 MB file; ~25 s in a debug build).
  /// The directory is removed when the test process exits.
  struct Converted: Sendable {
    var directory: String
    var nf4: String
    /// The convert run's stdout (its --json report).
    var output: CLIResult

    var report: CommandReport<Convert.Result> { get throws { try output.decoded(CommandReport<Convert.Result>.self) } }
  }

  static let converted: Result<Converted, any Error> = Result {
    let directory = try CLI.temporaryDirectory().path
    atexit { if let dir = ConvertTests.directoryToRemove { try? FileManager.default.removeItem(atPath: dir) } }
    directoryToRemove = directory
    let nf4 = directory + "/smollm2.nf4"
    let result = try CLI.run(["convert", CLI.modelPath, "-o", nf4, "--json"])
    guard result.status == 0 else { throw CLIError.notJSON("convert failed (\(result.status)): \(result.stderr)") }
    return Converted(directory: directory, nf4: nf4, output: result)
  }
  nonisolated(unsafe) static var directoryToRemove: String?

  /// The Python that Tools/check-nf4 would use, when it has numpy and safetensors.
  static let checkerPython: String? = {
    let venv = CLI.cache + "/venv/bin/python"
    let python = FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/env"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = (python == venv ? [] : ["python3"]) + ["-c", "import numpy, safetensors"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    process.waitUntilExit()
    return process.terminationStatus == 0 ? python : nil
  }()
  static var haveChecker: Bool { checkerPython != nil }

  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  // MARK: - The real model

  @Test(.enabled(if: CLI.haveModel)) func convertReportsSizesAndErrors() throws {
    let converted = try Self.converted.get()
    let report = try converted.report.result
    let size = try #require(try FileManager.default.attributesOfItem(atPath: converted.nf4)[.size] as? Int)
    #expect(report.fileBytes == size && report.output == converted.nf4 && report.dtype == nil)
    // 4 bits + 8-bit scale per 64 + fp32 group scale per 64·256 = 4.127, plus each tensor's tables and JSON.
    let bits = try #require(report.quantizedBitsPerWeight)
    #expect(bits >= 4.12 && bits <= 4.16, "quantized bits per weight \(bits)")
    let tensors = try #require(report.tensors)
    #expect(tensors.count == 272)
    #expect(tensors.filter { $0.storage == "NF4" }.count == 211)
    for tensor in tensors {
      // NF4 of the Q4_1-decoded weights: measured worst 0.107 (the embedding).
      #expect(tensor.relativeRMSE >= 0 && tensor.relativeRMSE < 0.2, "\(tensor.name): \(tensor.relativeRMSE)")
    }
  }

  /// Blocks of rows, not tensors: 4 MiB of fp32 at a time, plus the embedding's block scales and error terms (6 MiB
  /// with its codes). Measured peak RSS (release): 55.5 MiB, ledger peak 10 MiB; it was 181–196 MiB when each tensor
  /// was decoded whole. The bound is the one ConvertMemoryTests holds every conversion to; the embedding's fp32 copy
  /// (108 MiB) held again would cross it.
  @Test(.enabled(if: CLI.haveModel)) func convertPeakMemoryStaysUnder160MiB() throws {
    let peak = try Self.converted.get().report.memory.peakRSSBytes
    print("ConvertTests: convert peak RSS \(peak >> 20) MiB")
    #expect(peak <= ConvertMemoryTests.bound, "VmHWM \(peak)")
  }

  @Test(.enabled(if: CLI.haveModel)) func generateFromNF4AnswersTheQuestion() throws {
    let converted = try Self.converted.get()
    let result = try CLI.run([
      "generate", "-m", converted.nf4, "--chat", "What is the capital of France? Answer in one word.",
      "--temperature", "0", "--max-tokens", "24", "--json",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let text = try result.decoded(CommandReport<Generate.Result>.self).result.text
    #expect(text.contains("Paris"), "\(text)")
  }

  @Test(.enabled(if: CLI.haveModel)) func dequantizedSafetensorsLoads() throws {
    let converted = try Self.converted.get()
    let output = converted.directory + "/f32/model.safetensors"
    try FileManager.default.createDirectory(
      atPath: converted.directory + "/f32", withIntermediateDirectories: true)
    let result = try CLI.run(["convert", converted.nf4, "-o", output, "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(try result.decoded(CommandReport<Convert.Result>.self).result.dtype == "f32")
    for name in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
      #expect(FileManager.default.fileExists(atPath: converted.directory + "/f32/" + name), "\(name)")
    }
    let inspect = try CLI.run(["inspect", output, "--json"])
    #expect(inspect.status == 0, "\(inspect.stderr)")
    let json = try inspect.decoded(Inspect.Result.self)
    #expect(json.format == "safetensors" && json.version == nil)
    #expect(json.parameters == 134_515_008)
    #expect(json.tensorTypes == ["F32": 272])
    // The directory loads as a model too (config and tokenizer beside the weights).
    let tokens = try CLI.run(["tokenize", "-m", converted.directory + "/f32", "--text", "Paris", "--json"])
    #expect(tokens.status == 0, "\(tokens.stderr)")
  }

  /// Tools/check-nf4: every NF4 weight dequantized by the numpy reference equals the F32 export, the other tensors
  /// are bit-identical and every CRC-32 matches.
  @Test(.enabled(if: CLI.haveModel && ConvertTests.haveChecker, "no Python with numpy + safetensors"))
  func numpyReferenceAgreesWithTheExport() throws {
    let converted = try Self.converted.get()
    try FileManager.default.createDirectory(
      atPath: converted.directory + "/check", withIntermediateDirectories: true)
    let output = converted.directory + "/check/model.safetensors"
    let export = try CLI.run(["convert", converted.nf4, "-o", output])
    #expect(export.status == 0, "\(export.stderr)")
    let process = Process()
    process.executableURL = Self.repository.appendingPathComponent("Tools/check-nf4")
    process.arguments = [converted.nf4, output, "-q"]
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "check-nf4: \(message)")
    try? FileManager.default.removeItem(atPath: converted.directory + "/check")
  }

  @Test(.enabled(if: CLI.haveModel)) func dequantizedGGUFLoads() throws {
    let converted = try Self.converted.get()
    let output = converted.directory + "/model-f16.gguf"
    let result = try CLI.run(["convert", converted.nf4, "-o", output, "--dtype", "f16", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(try result.decoded(CommandReport<Convert.Result>.self).result.dtype == "f16")
    let inspect = try CLI.run(["inspect", output, "--json"])
    #expect(inspect.status == 0, "\(inspect.stderr)")
    let json = try inspect.decoded(Inspect.Result.self)
    #expect(json.format == "gguf")
    #expect(json.parameters == 134_515_008)
    #expect(json.tensorTypes == ["F16": 211, "F32": 61])
    try? FileManager.default.removeItem(atPath: output)
  }

  /// A convert killed part-way (SIGKILL: no chance to clean up) leaves nothing under the output name. (A SIGTERM sent
  /// from the test process did not stop the child in our runs: it finished and wrote the output.)
  @Test(.enabled(if: CLI.haveModel)) func interruptedConvertLeavesNoOutput() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let output = dir.appendingPathComponent("killed.nf4").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLI.binary)
    process.arguments = ["convert", CLI.modelPath, "-o", output]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    // Wait until the temporary file exists (the writer has started), then kill.
    var started = false
    for _ in 0..<600 where !started {
      usleep(50_000)
      started = (try FileManager.default.contentsOfDirectory(atPath: dir.path)).contains { $0.contains(".partial-") }
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    #expect(started, "convert never created its temporary file")
    #expect(process.terminationReason == .uncaughtSignal)
    #expect(!FileManager.default.fileExists(atPath: output))
  }

  // MARK: - Failures (tiny fixtures, no real model needed)

  @Test func outputIntoAMissingDirectoryFailsCleanly() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let input = CLI.fixtures.appendingPathComponent("tiny/qwen2-hf").path
    for name in ["x.nf4", "x.safetensors", "x.gguf"] {
      let output = dir.appendingPathComponent("missing/" + name).path
      let result = try CLI.run(["convert", input, "-o", output])
      #expect(result.status == 1 && result.exited, "\(name): \(result.status) \(result.stderr)")
      // Checked before the model is read (OutputPath): the message names the missing directory.
      #expect(result.stderr.contains(output) && result.stderr.contains("does not exist"), "\(result.stderr)")
      #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("missing").path))
    }
  }

  @Test func badOutputExtensionIsAUsageError() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let input = CLI.fixtures.appendingPathComponent("tiny/qwen2-hf").path
    for name in ["model.bin", "model.nf4.tmp", "model"] {
      let result = try CLI.run(["convert", input, "-o", dir.appendingPathComponent(name).path])
      #expect(result.status == 64, "\(name): \(result.status)")
      #expect(result.stderr.contains("-o must end in .nf4, .safetensors or .gguf"), "\(result.stderr)")
    }
    let sameFile = try CLI.run(["convert", input + "/model.safetensors", "-o", input + "/model.safetensors"])
    #expect(sameFile.status == 64 && sameFile.stderr.contains("-o must differ from the input"), "\(sameFile.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
  }

  /// A convert that fails part-way (a NaN in the last layer's MLP cannot be quantized) exits with a message naming
  /// the tensor, and leaves neither the output nor its temporary file.
  @Test func failedConvertLeavesNothing() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let model = dir.appendingPathComponent("nan-model")
    try FileManager.default.copyItem(at: CLI.fixtures.appendingPathComponent("tiny/qwen2-hf"), to: model)
    let weights = model.appendingPathComponent("model.safetensors")
    var bytes = try [UInt8](Data(contentsOf: weights))
    let name = "model.layers.1.mlp.down_proj.weight"
    let dataStart = 8 + Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    let header = String(decoding: bytes[8..<dataStart], as: UTF8.self)
    let entry = try #require(header.range(of: "\"\(name)\""), "\(name) not in the fixture")
    let offsets = try #require(header[entry.upperBound...].range(of: "\"data_offsets\":["))
    let start = try #require(Int(header[offsets.upperBound...].prefix { $0.isNumber }))
    bytes.replaceSubrange((dataStart + start + 40)..<(dataStart + start + 44), with: [0x00, 0x00, 0xC0, 0x7F])
    try Data(bytes).write(to: weights)
    let output = dir.appendingPathComponent("out.nf4").path
    let result = try CLI.run(["convert", model.path, "-o", output])
    #expect(result.status == 1 && result.exited, "\(result.status) \(result.stderr)")
    #expect(result.stderr.contains(name) && result.stderr.contains("non-finite"), "\(result.stderr)")
    let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
    #expect(left == ["nan-model"], "left behind: \(left)")
  }
}
