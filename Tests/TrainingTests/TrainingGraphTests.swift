import Foundation
import Memory
import Model
import Testing
import Training

/// A LoRA provider over its own allocations, for tests: every projection in `targets` of every layer.
final class ArrayLoRA: LoRAProvider {
  /// One pair's four buffers; pointers stay valid for the test's lifetime.
  final class Pair {
    let a: UnsafeMutableBufferPointer<Float>, b: UnsafeMutableBufferPointer<Float>
    let gradA: UnsafeMutableBufferPointer<Float>, gradB: UnsafeMutableBufferPointer<Float>
    init(a: [Float], b: [Float]) {
      func copy(_ values: [Float]) -> UnsafeMutableBufferPointer<Float> {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
        _ = buffer.initialize(from: values)
        return buffer
      }
      self.a = copy(a)
      self.b = copy(b)
      self.gradA = copy(Array(repeating: 0, count: a.count))
      self.gradB = copy(Array(repeating: 0, count: b.count))
    }
    deinit {
      for buffer in [a, b, gradA, gradB] { buffer.deallocate() }
    }
  }
  let rank: Int
  let scale: Float
  var pairs: [String: Pair] = [:]
  var maximumRank: Int { rank }

  init(config: ModelConfig, targets: [ProjectionTarget], rank: Int, scale: Float, seed: UInt64) {
    self.rank = rank
    self.scale = scale
    var generator = SeededGenerator(seed: seed)
    for layer in 0..<config.layerCount {
      for target in targets {
        let (out, inp) = target.shape(config)
        func random(_ n: Int, _ amplitude: Float) -> [Float] {
          (0..<n).map { _ in Float(generator.nextUnit() * 2 - 1) * amplitude }
        }
        pairs["\(layer).\(target)"] = Pair(a: random(rank * inp, 0.2), b: random(out * rank, 0.2))
      }
    }
  }

  func lora(layer: Int, target: ProjectionTarget) -> LoRAView? {
    guard let pair = pairs["\(layer).\(target)"] else { return nil }
    return LoRAView(
      a: pair.a.baseAddress!, b: pair.b.baseAddress!, gradA: pair.gradA.baseAddress!, gradB: pair.gradB.baseAddress!,
      rank: rank, scale: scale)
  }
}

@Suite(.serialized) struct TrainingGraphTests {
  static let tiny = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("ModelTests/Fixtures/tiny")

  static func row(_ model: LanguageModel, packed: Bool) -> TrainingGraph.Row {
    let tokens: [Int32] = [5, 77, 120, 33, 9, 250, 18, 64, 101, 7, 44, 200]
    var targets = Array(tokens.dropFirst()) + [-1]
    targets[2] = -1  // a position without loss
    let starts: [Int32]? = packed ? [0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 5, 5] : nil
    if packed { targets[4] = -1 }  // no target across the packed boundary
    return TrainingGraph.Row(tokens: tokens, targets: targets, segmentStarts: starts)
  }

  /// Central finite differences of the summed loss against the analytic LoRA gradients, on sampled entries of every
  /// A and B of a tiny model. Float forward: ε = 1e-2 and a tolerance of 2e-2 relative + 2e-3 absolute cover the
  /// Float rounding of a loss of ~60 nats (measured worst relative error is printed).
  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"], [false, true])
  func loraGradientsMatchFiniteDifferences(file: String, packed: Bool) throws {
    try checkGradients(file: file, packed: packed, dropout: 0)
  }

  /// The same with LoRA dropout: the row's seed fixes the masks, so the loss is a deterministic function again.
  @Test func loraGradientsWithDropoutMatchFiniteDifferences() throws {
    try checkGradients(file: "llama-mixed.tiny-gguf", packed: true, dropout: 0.3)
  }

  func checkGradients(file: String, packed: Bool, dropout: Float) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let lora = ArrayLoRA(config: model.config, targets: ProjectionTarget.allCases, rank: 3, scale: 1.5, seed: 11)
    let graph = try TrainingGraph(
      model: model, capacity: 16, maximumRank: 3, logitRows: 5, dropout: dropout, ledger: MemoryLedger())
    var row = Self.row(model, packed: packed)
    if dropout > 0 {
      row.dropoutSeed = 42
      var plain = row
      plain.dropoutSeed = nil
      let masked = try graph.loss(row, lora: lora).lossSum
      let unmasked = try graph.loss(plain, lora: lora).lossSum
      #expect(abs(masked - unmasked) > 1e-4, "dropout should change the loss")
    }
    _ = try graph.accumulateGradients(row, lora: lora, lossScale: 1)
    var worst = 0.0
    var generator = SeededGenerator(seed: 3)
    for key in lora.pairs.keys.sorted() {
      for which in ["a", "b"] {
        let pair = lora.pairs[key]!
        let values = which == "a" ? pair.a : pair.b
        let gradients = which == "a" ? pair.gradA : pair.gradB
        for _ in 0..<3 {
          let i = Int(generator.next() % UInt64(values.count))
          func set(_ value: Float) { values[i] = value }
          let original = values[i]
          let epsilon: Float = 1e-2
          set(original + epsilon)
          let plus = try graph.loss(row, lora: lora).lossSum
          set(original - epsilon)
          let minus = try graph.loss(row, lora: lora).lossSum
          set(original)
          let numeric = (plus - minus) / Double(2 * epsilon)
          let analytic = Double(gradients[i])
          let error = abs(numeric - analytic)
          worst = max(worst, error / max(abs(numeric), 1e-1))
          #expect(
            error <= 2e-2 * abs(numeric) + 2e-3, "\(key) \(which)[\(i)]: analytic \(analytic), numeric \(numeric)")
        }
      }
    }
    print("TrainingGraphTests \(file) packed=\(packed) dropout=\(dropout): worst relative gradient error \(worst)")
  }

  /// With B = 0 (LoRA's initial state) the trained model is exactly the base: the loss equals a plain forward's.
  @Test func zeroLoRALossEqualsTheInferenceLoss() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let lora = ArrayLoRA(config: model.config, targets: [.q, .v], rank: 2, scale: 2, seed: 5)
    for pair in lora.pairs.values { pair.b.update(repeating: 0) }
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 2, ledger: MemoryLedger())
    let row = Self.row(model, packed: false)
    let trained = try graph.loss(row, lora: lora)
    let session = try InferenceSession(model: model, capacity: 16, ledger: MemoryLedger())
    var reference = 0.0
    var counted = 0
    try session.forward(row.tokens, logits: .all) { i, logits in
      guard row.targets[i] >= 0 else { return }
      let m = Double(logits.max()!)
      let lse = m + log(logits.reduce(0.0) { $0 + exp(Double($1) - m) })
      reference += lse - Double(logits[Int(row.targets[i])])
      counted += 1
    }
    #expect(trained.counted == counted)
    #expect(abs(trained.lossSum - reference) < 1e-3 * abs(reference), "\(trained.lossSum) vs \(reference)")
  }

  /// A packed row gives each segment the loss it has alone: positions restart and attention stops at boundaries.
  @Test func packedSegmentsAreIndependent() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, ledger: MemoryLedger())
    let packed = Self.row(model, packed: true)
    let first = TrainingGraph.Row(tokens: Array(packed.tokens[0..<5]), targets: Array(packed.targets[0..<5]))
    let second = TrainingGraph.Row(tokens: Array(packed.tokens[5...]), targets: Array(packed.targets[5...]))
    let whole = try graph.loss(packed, lora: nil)
    let a = try graph.loss(first, lora: nil)
    let b = try graph.loss(second, lora: nil)
    #expect(whole.counted == a.counted + b.counted)
    #expect(abs(whole.lossSum - (a.lossSum + b.lossSum)) < 1e-3)
  }

  @Test func badRowsAreErrors() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("qwen2-hf").path)
    let graph = try TrainingGraph(model: model, capacity: 8, maximumRank: 1, ledger: MemoryLedger())
    #expect(throws: TrainingError.self) {
      try graph.loss(.init(tokens: Array(repeating: 1, count: 9), targets: Array(repeating: -1, count: 9)), lora: nil)
    }
    #expect(throws: TrainingError.self) { try graph.loss(.init(tokens: [1, 100_000], targets: [-1, -1]), lora: nil) }
    #expect(throws: TrainingError.self) { try graph.loss(.init(tokens: [1, 2], targets: [-1]), lora: nil) }
    #expect(throws: TrainingError.self) {
      try graph.loss(.init(tokens: [1, 2, 3], targets: [2, 3, -1], segmentStarts: [0, 2, 0]), lora: nil)
    }
  }
}
