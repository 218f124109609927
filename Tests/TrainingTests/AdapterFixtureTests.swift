import Foundation
import Memory
import Model
import Testing
import Training

/// The PEFT adapter directory and the gradient golden written by Tools/reference/lora_reference.py.
@Suite struct AdapterFixtureTests {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

  @Test func referenceAdapterLoadsAsWrittenByPython() throws {
    let model = try AdapterTestSupport.smolLM2Config()
    let set = try LoRAAdapterSet.load(
      from: Self.fixtures.appendingPathComponent("lora_grad_adapter").path, model: model, ledger: MemoryLedger())
    #expect(set.config.rank == 4 && set.config.alpha == 8 && set.config.targets == [.q, .v])
    #expect(set.scale == 2)
    #expect(set.parameters.tensors.count == 30 * 2 * 2)
    let bound = Float(1 / 576.0.squareRoot())
    for layer in 0..<30 {
      for target in [ProjectionTarget.q, .v] {
        #expect(set.a(layer: layer, target: target)!.value.allSatisfy { abs($0) <= bound })
        #expect(set.b(layer: layer, target: target)!.value.contains { $0 != 0 })
      }
    }
  }

  @Test func goldenDescribesTheSameAdapter() throws {
    let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("lora_grad_golden.json"))
    let golden = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let ids = try #require(golden["token_ids"] as? [Int])
    let targets = try #require(golden["targets"] as? [Int])
    #expect(ids.count == 24 && targets.count == 24)
    #expect(targets.filter { $0 >= 0 }.count == 8)
    let loss = try #require(golden["loss"] as? Double)
    #expect(loss > 0 && loss.isFinite)
    let layers = try #require(golden["layers"] as? [[String: Any]])
    #expect(layers.count == 30)
    for layer in layers {
      for key in ["q_A", "q_B", "v_A", "v_B"] {
        let entry = try #require(layer[key] as? [String: Any])
        let shape = try #require(entry["shape"] as? [Int])
        let samples = try #require(entry["samples"] as? [[Double]])
        #expect(samples.allSatisfy { Int($0[0]) < shape.reduce(1, *) })
        #expect((entry["frobenius"] as? Double ?? 0) > 0)
      }
    }
  }
}
