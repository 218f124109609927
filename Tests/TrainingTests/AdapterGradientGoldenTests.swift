import Foundation
import Memory
import Model
import Testing
import Training

/// One LoRA step's gradients on the real model against Tools/reference/lora_reference.py (float64 numpy, backward
/// checked there by finite differences). Needs the SmolLM2 GGUF fetched at set-up.
@Suite struct AdapterGradientGoldenTests {
  static let environment = ProcessInfo.processInfo.environment
  static let ggufPath =
    environment["EDGETUNE_MODEL"]
    ?? (environment["EDGETUNE_CACHE"] ?? NSHomeDirectory() + "/.cache/edgetune")
    + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
  static var haveModel: Bool {
    environment["EDGETUNE_REQUIRE_MODEL"] == "1" || FileManager.default.fileExists(atPath: ggufPath)
  }

  @Test(.enabled(if: haveModel)) func gradientsMatchTheNumpyReference() throws {
    let data = try Data(contentsOf: AdapterFixtureTests.fixtures.appendingPathComponent("lora_grad_golden.json"))
    let golden = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let ids = try #require(golden["token_ids"] as? [Int]).map(Int32.init)
    let targets = try #require(golden["targets"] as? [Int]).map(Int32.init)
    let ledger = MemoryLedger()
    let model = try LanguageModel(path: Self.ggufPath)
    let adapter = try LoRAAdapterSet.load(
      from: AdapterFixtureTests.fixtures.appendingPathComponent("lora_grad_adapter").path, model: model.config,
      ledger: ledger)
    let graph = try TrainingGraph(model: model, capacity: ids.count, maximumRank: 4, ledger: ledger)
    let counted = targets.filter { $0 >= 0 }.count
    adapter.parameters.zeroGradients()
    let (lossSum, n) = try graph.accumulateGradients(
      .init(tokens: ids, targets: targets), lora: adapter, lossScale: 1 / Float(counted))
    #expect(n == counted)
    let loss = lossSum / Double(n)
    let goldenLoss = try #require(golden["loss"] as? Double)
    #expect(abs(loss - goldenLoss) <= 1e-3 * goldenLoss, "loss \(loss) vs \(goldenLoss)")

    let layers = try #require(golden["layers"] as? [[String: Any]])
    var worst = 0.0
    for layer in layers {
      let index = try #require(layer["layer"] as? Int)
      for target in [ProjectionTarget.q, .v] {
        for matrix in ["A", "B"] {
          let entry = try #require(layer["\(target.rawValue)_\(matrix)"] as? [String: Any])
          let tensor = try #require(
            matrix == "A" ? adapter.a(layer: index, target: target) : adapter.b(layer: index, target: target))
          let frobenius = try #require(entry["frobenius"] as? Double)
          let norm = tensor.gradient.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
          worst = max(worst, abs(norm - frobenius) / frobenius)
          #expect(abs(norm - frobenius) <= 1e-3 * frobenius, "\(tensor.name): |g| \(norm) vs \(frobenius)")
          for sample in try #require(entry["samples"] as? [[Double]]) {
            let value = Double(tensor.gradient[Int(sample[0])])
            #expect(
              abs(value - sample[1]) <= 1e-3 * frobenius, "\(tensor.name)[\(Int(sample[0]))]: \(value) vs \(sample[1])")
          }
        }
      }
    }
    print("LoRA gradient golden: loss \(loss) (reference \(goldenLoss)); worst relative norm error \(worst)")
  }
}
