import Foundation
import Memory
import Testing

@testable import edgetune

/// `convert` in bounded memory: every matrix streams through decode → quantize/convert → write in blocks of rows, so
/// the peak does not grow with the largest tensor. Each conversion runs as a child process with `--budget 160MiB`
/// (its plan must fit) and its own VmHWM at exit must stay within that too, for the real model (SmolLM2-135M, a
/// 49,152 × 576 embedding) and for a 1.5B-class model of random weights with Qwen2-1.5B's shapes: a 151,936 × 1,536
/// embedding (890 MiB in fp32; 1.04 GiB peak when it was converted whole, 1.34 GiB to .gguf f16), 28 layers of
/// hidden 1,536, MLP 8,960, 12 query / 2 key-value heads, tied head. Tools/test makes that file once with
/// Tools/make-synthetic-model (~800 MB, ~80 s on 2 cores) and caches it under $EDGETUNE_CACHE/synthetic.
@Suite(.serialized) struct ConvertMemoryTests {
  /// The peak every conversion is held to.
  static let bound = 160 << 20

  static let syntheticPath =
    CLI.environment["EDGETUNE_SYNTHETIC_1_5B"] ?? CLI.cache + "/synthetic/qwen2-1.5b-shape.nf4"
  /// With EDGETUNE_REQUIRE_MODEL=1 (Tools/test) a missing file fails the tests instead of skipping them.
  static var haveSynthetic: Bool { CLI.required || FileManager.default.fileExists(atPath: syntheticPath) }

  /// Converts `input` to a file named `name` in a fresh directory with the 160 MiB budget, checks the child's VmHWM
  /// against `bound`, and hands the report and the output's path to `body`; the directory is removed after.
  static func convert(
    _ input: String, to name: String, _ options: [String] = [],
    _ body: (CommandReport<Convert.Result>, String) throws -> Void
  ) throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let output = dir.appendingPathComponent(name).path
    let result = try CLI.run(["convert", input, "-o", output, "--budget", "160MiB", "--json"] + options)
    try #require(result.status == 0, "\(result.stderr)")
    let report = try result.decoded(CommandReport<Convert.Result>.self)
    let peak = report.memory.peakRSSBytes
    print(
      "ConvertMemoryTests: \((input as NSString).lastPathComponent) → \(name): peak RSS \(peak >> 20) MiB, ledger "
        + "\(report.memory.ledgerPeakBytes >> 20) MiB, \(String(format: "%.1f", report.result.seconds)) s")
    #expect(peak > 0 && peak <= bound, "VmHWM \(peak)")
    try body(report, output)
  }

  /// What `inspect --json` says of a written file.
  static func inspect(_ path: String) throws -> Inspect.Result {
    let result = try CLI.run(["inspect", path, "--json"])
    try #require(result.status == 0, "\(result.stderr)")
    return try result.decoded(Inspect.Result.self)
  }

  // MARK: - SmolLM2 (the .nf4 direction is ConvertTests.convertPeakMemoryStaysUnder160MiB)

  /// Measured: 46 MiB (181–206 MiB when each tensor was decoded whole).
  @Test(.enabled(if: CLI.haveModel)) func realModelToGGUFHalf() throws {
    try Self.convert(CLI.modelPath, to: "smollm2-f16.gguf", ["--dtype", "f16"]) { report, output in
      #expect(report.result.dtype == "f16")
      let json = try Self.inspect(output)
      #expect(json.format == "gguf" && json.parameters == 134_515_008)
      #expect(json.tensorTypes == ["F16": 211, "F32": 61])
    }
  }

  // MARK: - A 1.5B-class model

  /// Measured: 92.5 MiB, 23 s on 2 cores (1.04 GiB and 26 s when each tensor was decoded whole). Of the ledger's
  /// 46 MiB, 42 are the embedding's block scales and error terms, kept until its double quantization.
  @Test(.enabled(if: haveSynthetic)) func syntheticOneAndAHalfBillionToNF4() throws {
    try #require(FileManager.default.fileExists(atPath: Self.syntheticPath), "run Tools/test to make it")
    try Self.convert(Self.syntheticPath, to: "qwen2-shape.nf4") { report, _ in
      let tensors = try #require(report.result.tensors)
      // 28 layers × (2 norms + 7 matrices), the embedding, the final norm; the head is tied.
      #expect(tensors.count == 254 && tensors.filter { $0.storage == "NF4" }.count == 197)
      #expect(tensors.first?.shape == [151_936, 1536])
      let bits = try #require(report.result.quantizedBitsPerWeight)
      #expect(bits >= 4.12 && bits <= 4.14, "quantized bits per weight \(bits)")
      // NF4 values quantized again keep their codes; only the double-quantized scales move (measured worst 3e-4).
      for tensor in tensors { #expect(tensor.relativeRMSE < 0.01, "\(tensor.name): \(tensor.relativeRMSE)") }
    }
  }

  /// Measured: 47 MiB, 15 s on 2 cores, 3.1 GB written (1.34 GiB and 21 s when each tensor was decoded whole).
  @Test(.enabled(if: haveSynthetic)) func syntheticOneAndAHalfBillionToGGUFHalf() throws {
    try #require(FileManager.default.fileExists(atPath: Self.syntheticPath), "run Tools/test to make it")
    try Self.convert(Self.syntheticPath, to: "qwen2-shape-f16.gguf", ["--dtype", "f16"]) { _, output in
      let json = try Self.inspect(output)
      #expect(json.format == "gguf" && json.parameters == 1_543_656_960)
      #expect(json.tensorTypes == ["F16": 197, "F32": 57])
    }
  }
}
