import Foundation
import Memory
import Model
import Testing

@testable import Training

/// A whole fine-tuning run through the library, in process, on the tiny Qwen2 fixture: the configuration is a plain
/// value, the progress callback sees every step and can end the run, the result is saved, and the report is a
/// Codable value that reads back the same.
@Suite struct RunTests {
  static func data() throws -> String {
    let lines = (0..<40).map { i in
      "{\"prompt\": \"Count \(i)\", \"completion\": \" \(i + 1) \(i + 2) \(i + 3)\"}"
    }
    return try DataFixtures.temporaryFile(lines.joined(separator: "\n") + "\n")
  }

  @Test func aRunFromCodeTrainsSavesAndStopsWhenAsked() throws {
    let model = try DataFixtures.tinyModel()
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("edgetune-run-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: output) }
    var configuration = FineTuneConfiguration(
      model: DataFixtures.tinyPath, method: .lora(try LoRAConfig(rank: 2, seed: 3)), output: output.path)
    configuration.data = [DataSourceSpec(path: try Self.data())]
    configuration.steps = 6
    configuration.seqLen = 32
    configuration.learningRate = 1e-2
    configuration.evalEvery = 2
    configuration.budget = 4 << 30
    var steps: [Int] = []
    var notes: [String] = []
    let run = try FineTuneRun(configuration: configuration, model: model) { notes.append($0) }
    let report = try run.run { event in
      switch event {
      case .note(let text): notes.append(text)
      case .step(let step, let total, _):
        #expect(total == 6)
        steps.append(step.step)
        return step.step == 4 ? .stop : .more
      }
      return .more
    }
    #expect(steps == [1, 2, 3, 4])
    #expect(report.run.stoppedEarly)
    #expect(report.run.lossCurve.count == 4 && report.run.learningRateCurve.count == 4)
    #expect(report.run.evalCurve.map(\.step) == [2, 4])
    #expect(report.run.method == "lora" && report.method.rank == 2 && report.method.targets == ["q_proj", "v_proj"])
    #expect(!report.run.budgetCrossed && report.plan.budgetBytes == 4 << 30)
    #expect(notes.contains { $0.hasPrefix("plan: peak") } && notes.contains { $0.hasPrefix("training LoRA r=2") })
    #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("adapter_model.safetensors").path))
    // The report encodes flat, as report.json always was, and decodes to the same values.
    let encoded = try JSONEncoder().encode(report)
    let object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
    #expect(object["rank"] as? Int == 2 && object["planned_peak_bytes"] as? Int == report.plan.plannedPeakBytes)
    let decoded = try JSONDecoder().decode(FineTuneReport.self, from: encoded)
    #expect(decoded.run.lossCurve == report.run.lossCurve && decoded.method == report.method)
    #expect(decoded.plan == report.plan)
  }

  /// Errors name the configuration's parameters, not a command line's flags.
  @Test func badConfigurationNamesTheParameter() throws {
    let model = try DataFixtures.tinyModel()
    var configuration = FineTuneConfiguration(
      model: DataFixtures.tinyPath, method: .lora(try LoRAConfig()), output: "unused")
    configuration.seqLen = 64  // inside the tiny model's context of 128
    configuration.gradientAccumulation = 0
    #expect(throws: TrainingError.invalidOption(name: "gradAccum", reason: "must be at least 1, not 0")) {
      _ = try FineTuneRun(configuration: configuration, model: model)
    }
    configuration.gradientAccumulation = 1
    let run = try FineTuneRun(configuration: configuration, model: model)
    #expect(throws: TrainingError.invalidOption(name: "data", reason: "give the training data")) {
      _ = try run.run()
    }
  }
}
