import Memory
import Model
import Testing
import Training

@Suite struct AdapterLoRATests {
  @Test func namesAndShapesForSmolLM2() throws {
    let model = try AdapterTestSupport.smolLM2Config()
    let config = try LoRAConfig(rank: 8, alpha: 16, targets: ProjectionTarget.allCases)
    let set = try LoRAAdapterSet(config: config, model: model, ledger: MemoryLedger())
    #expect(set.parameters.tensors.count == 30 * 7 * 2)
    let expected: [(ProjectionTarget, String, [Int], [Int])] = [
      (.q, "self_attn.q_proj", [8, 576], [576, 8]), (.k, "self_attn.k_proj", [8, 576], [192, 8]),
      (.v, "self_attn.v_proj", [8, 576], [192, 8]), (.o, "self_attn.o_proj", [8, 576], [576, 8]),
      (.gate, "mlp.gate_proj", [8, 576], [1536, 8]), (.up, "mlp.up_proj", [8, 576], [1536, 8]),
      (.down, "mlp.down_proj", [8, 1536], [576, 8]),
    ]
    for layer in [0, 17, 29] {
      for (target, path, aShape, bShape) in expected {
        let a = try #require(set.a(layer: layer, target: target))
        let b = try #require(set.b(layer: layer, target: target))
        #expect(a.name == "base_model.model.model.layers.\(layer).\(path).lora_A.weight")
        #expect(b.name == "base_model.model.model.layers.\(layer).\(path).lora_B.weight")
        #expect(a.shape == aShape && b.shape == bShape)
      }
    }
    #expect(set.a(layer: 30, target: .q) == nil)
    // 8 · Σ(in + out) per layer: q 1152, k 768, v 768, o 1152, gate 2112, up 2112, down 2112.
    #expect(set.parameters.parameterCount == 30 * 8 * (1152 + 768 + 768 + 1152 + 3 * 2112))
  }

  @Test func onlyTargetedProjectionsGetAdapters() throws {
    let model = try AdapterTestSupport.tinyConfig()
    let set = try LoRAAdapterSet(config: try LoRAConfig(targets: [.v, .q, .v]), model: model, ledger: MemoryLedger())
    #expect(set.config.targets == [.q, .v])
    #expect(
      set.parameters.tensors.map(\.name).prefix(4) == [
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
        "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight",
        "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight",
      ])
    #expect(set.lora(layer: 1, target: .k) == nil)
    let view = try #require(set.lora(layer: 1, target: .v))
    #expect(view.a == set.a(layer: 1, target: .v)!.value.baseAddress)
    #expect(view.gradB == set.b(layer: 1, target: .v)!.gradient.baseAddress)
    #expect(view.rank == 8 && view.scale == 2)
    #expect(set.maximumRank == 8)
  }

  @Test func initializationFollowsPEFT() throws {
    let model = try AdapterTestSupport.smolLM2Config()
    let config = try LoRAConfig(rank: 16, alpha: 32, targets: [.q, .down], seed: 42)
    let set = try LoRAAdapterSet(config: config, model: model, ledger: MemoryLedger())
    for target in [ProjectionTarget.q, .down] {
      // kaiming_uniform_(a = sqrt(5)): gain = sqrt(2 / (1 + 5)), bound = gain · sqrt(3 / fan_in) = 1 / sqrt(fan_in)
      let fanIn = target == .q ? 576 : 1536
      let bound = (2.0 / 6.0).squareRoot() * (3.0 / Double(fanIn)).squareRoot()
      #expect(abs(bound - 1 / Double(fanIn).squareRoot()) < 1e-15)
      var sum = 0.0
      var sumSquares = 0.0
      var largest = 0.0
      var n = 0
      for layer in 0..<model.layerCount {
        let a = set.a(layer: layer, target: target)!
        for x in a.value {
          sum += Double(x)
          sumSquares += Double(x) * Double(x)
          largest = max(largest, abs(Double(x)))
        }
        n += a.count
        #expect(set.b(layer: layer, target: target)!.value.allSatisfy { $0 == 0 })
      }
      let mean = sum / Double(n)
      let variance = sumSquares / Double(n) - mean * mean
      #expect(largest <= bound)
      #expect(largest > 0.999 * bound)
      #expect(abs(mean) < 4 * bound / (3 * Double(n)).squareRoot())  // 4σ of the mean of U(−b, b)
      #expect(abs(variance / (bound * bound / 3) - 1) < 0.02)
    }
  }

  @Test func seedDecidesA() throws {
    let model = try AdapterTestSupport.tinyConfig()
    func values(_ seed: UInt64) throws -> [Float] {
      let set = try LoRAAdapterSet(config: try LoRAConfig(rank: 4, seed: seed), model: model, ledger: MemoryLedger())
      return Array(set.parameters.allValues)
    }
    #expect(try values(7) == values(7))
    #expect(try values(7) != values(8))
  }

  @Test func scaleIsAlphaOverRankOrOverSqrtRankWithRSLoRA() throws {
    #expect(try LoRAConfig(rank: 8, alpha: 16).scale == 2)
    #expect(try LoRAConfig(rank: 16, alpha: 16, useRSLoRA: true).scale == 4)
    #expect(try LoRAConfig(rank: 8, alpha: 16, useRSLoRA: true).scale == 16 / 8.0.squareRoot())
  }

  @Test func badConfigurationsAreRejected() throws {
    #expect(throws: TrainingError.self) { try LoRAConfig(rank: 0) }
    #expect(throws: TrainingError.self) { try LoRAConfig(alpha: -1) }
    #expect(throws: TrainingError.self) { try LoRAConfig(dropout: 1) }
    #expect(throws: TrainingError.self) { try LoRAConfig(targets: []) }
    #expect(try LoRAConfig.targets(named: ["v_proj", "q", "down_proj"]) == [.q, .v, .down])
    #expect(throws: TrainingError.unknownTarget(name: "fc1", known: ProjectionTarget.allCases.map(\.moduleName))) {
      try LoRAConfig.targets(named: ["q", "fc1"])
    }
  }
}
