import Foundation
import Memory
import Testing
import Training

/// torch.optim.AdamW (_single_tensor_adamw, amsgrad off) transcribed literally, in Double.
struct TorchAdamWReference {
  var beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01
  var m: [Double], v: [Double]
  var step = 0

  init(count: Int, weightDecay: Double) {
    m = Array(repeating: 0, count: count)
    v = Array(repeating: 0, count: count)
    self.weightDecay = weightDecay
  }

  mutating func update(_ param: inout [Double], grad: [Double], lr: Double) {
    step += 1
    for i in param.indices { param[i] *= 1 - lr * weightDecay }  // param.mul_(1 - lr * weight_decay)
    for i in param.indices {
      m[i] += (grad[i] - m[i]) * (1 - beta1)  // exp_avg.lerp_(grad, 1 - beta1)
      v[i] = v[i] * beta2 + (1 - beta2) * grad[i] * grad[i]  // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
    }
    let biasCorrection1 = 1 - pow(beta1, Double(step))
    let biasCorrection2 = 1 - pow(beta2, Double(step))
    let stepSize = lr / biasCorrection1
    let biasCorrection2Sqrt = biasCorrection2.squareRoot()
    for i in param.indices {
      let denom = v[i].squareRoot() / biasCorrection2Sqrt + eps
      param[i] -= stepSize * m[i] / denom  // param.addcdiv_(exp_avg, denom, value=-step_size)
    }
  }
}

@Suite struct OptimAdamWTests {
  /// Gradients for step `step` of tensor `t`: mixed magnitudes and signs, and exact zeros.
  static func gradient(step: Int, tensor: Int, index: Int) -> Float {
    if (index + step) % 7 == 3 { return 0 }
    let x = sin(Double(index * 31 + step * 17 + tensor * 101))
    return Float(x * pow(10, Double((index % 4) - 2)))
  }

  @Test(arguments: [0.0, 0.1])
  func matchesTorchFormulaInDouble(weightDecay: Double) throws {
    let shapes = [[5], [3, 12]]
    let store = try ParameterStore(
      shapes.enumerated().map { ("p\($0.offset)", $0.element) }, label: "adamw", ledger: MemoryLedger())
    var reference: [[Double]] = []
    var torch: [TorchAdamWReference] = []
    for (t, tensor) in store.tensors.enumerated() {
      for i in 0..<tensor.count { tensor.value[i] = Float(cos(Double(i + 10 * t))) }
      reference.append(tensor.value.map(Double.init))
      torch.append(TorchAdamWReference(count: tensor.count, weightDecay: weightDecay))
    }
    let optimizer = try AdamW(
      parameters: store, hyperparameters: .init(weightDecay: weightDecay), ledger: MemoryLedger())
    let rates = [1e-2, 3e-2, 2e-2, 5e-3, 1e-2]
    for (step, lr) in rates.enumerated() {
      for (t, tensor) in store.tensors.enumerated() {
        for i in 0..<tensor.count { tensor.gradient[i] = Self.gradient(step: step, tensor: t, index: i) }
        torch[t].update(&reference[t], grad: tensor.gradient.map(Double.init), lr: lr)
      }
      try optimizer.step(store, learningRate: lr)
    }
    #expect(optimizer.stepCount == rates.count)
    for (t, tensor) in store.tensors.enumerated() {
      for i in 0..<tensor.count {
        let error = abs(Double(tensor.value[i]) - reference[t][i])
        #expect(
          error <= 2e-6 * max(1, abs(reference[t][i])), "tensor \(t) [\(i)]: \(tensor.value[i]) vs \(reference[t][i])")
      }
    }
    // Padding stays zero.
    #expect(store.allValues[5..<16].allSatisfy { $0 == 0 })
  }

  @Test func firstStepMovesEachElementByLearningRateTimesSign() throws {
    // With bias correction, step 1 gives m̂/sqrt(v̂) = g/|g|: every nonzero-gradient element moves by ≈ lr.
    let store = try ParameterStore([("p", [4])], label: "sign", ledger: MemoryLedger())
    let p = store["p"]!
    for (i, g) in [0.5, -2e-3, 40, 0].enumerated() { p.gradient[i] = Float(g) }
    let optimizer = try AdamW(parameters: store, hyperparameters: .init(weightDecay: 0), ledger: MemoryLedger())
    try optimizer.step(store, learningRate: 0.1)
    #expect(abs(p.value[0] + 0.1) < 1e-6)
    #expect(abs(p.value[1] - 0.1) < 1e-4)  // ε matters a little at small |g|
    #expect(abs(p.value[2] + 0.1) < 1e-6)
    #expect(p.value[3] == 0)
  }

  @Test func weightDecayIsDecoupledAndAppliedBeforeTheUpdate() throws {
    let store = try ParameterStore([("p", [3])], label: "decay", ledger: MemoryLedger())
    let p = store["p"]!
    for i in 0..<3 { p.value[i] = Float(i + 1) }
    // Zero gradient: the Adam term is 0/ε = 0, so only the decay acts: p·(1 − lr·λ) exactly.
    let optimizer = try AdamW(parameters: store, hyperparameters: .init(weightDecay: 0.5), ledger: MemoryLedger())
    try optimizer.step(store, learningRate: 0.1)
    #expect(Array(p.value) == [Float(1 * 0.95), Float(2 * 0.95), Float(3 * 0.95)])
    // No decay: a zero gradient leaves the value alone.
    let still = try AdamW(parameters: store, hyperparameters: .init(weightDecay: 0), ledger: MemoryLedger())
    let before = Array(p.value)
    try still.step(store, learningRate: 0.1)
    #expect(Array(p.value) == before)
  }

  @Test func deterministicAcrossRuns() throws {
    func run() throws -> [Float] {
      let store = try ParameterStore([("p", [50])], label: "det", ledger: MemoryLedger())
      AdapterTestSupport.fill(store["p"]!.value, seed: 3)
      let optimizer = try AdamW(parameters: store, ledger: MemoryLedger())
      for step in 0..<4 {
        AdapterTestSupport.fill(store["p"]!.gradient, seed: UInt64(10 + step))
        try optimizer.step(store, learningRate: 1e-3)
      }
      return Array(store["p"]!.value)
    }
    #expect(try run() == run())
  }

  @Test func invalidHyperparametersAreRejected() throws {
    let store = try ParameterStore([("p", [1])], label: "bad", ledger: MemoryLedger())
    #expect(throws: TrainingError.self) {
      try AdamW(parameters: store, hyperparameters: .init(beta1: 1), ledger: MemoryLedger())
    }
    #expect(throws: TrainingError.self) {
      try AdamW(parameters: store, hyperparameters: .init(weightDecay: -1), ledger: MemoryLedger())
    }
  }

  @Test func stateIsReservedInTheLedger() throws {
    let ledger = MemoryLedger()
    let store = try ParameterStore([("p", [100])], label: "p", ledger: ledger)
    let optimizer = try AdamW(parameters: store, ledger: ledger)
    #expect(ledger.snapshot().currentByLabel["optimizer-state"] == 2 * store.count * 4)
    #expect(optimizer.state.count == store.count)
  }
}
