import Memory
import Model
import Tensor

/// A scalar read from a final hidden state: s = w · h (+ b), with h the final-normed state of one position. The reward
/// model's score (Hugging Face's `score`, no bias) and PPO's value head (TRL's `v_head.summary`, with a bias) are one.
/// The pointers are views into a `ParameterStore` that outlives the pass.
public struct ScalarHeadView {
  public let weight: UnsafeMutablePointer<Float>  // (hidden)
  public let bias: UnsafeMutablePointer<Float>?  // (1) or nil
  public let weightGradient: UnsafeMutablePointer<Float>  // (hidden)
  public let biasGradient: UnsafeMutablePointer<Float>?

  public init(weight: ParameterTensor, bias: ParameterTensor?) {
    self.weight = weight.value.baseAddress!
    self.weightGradient = weight.gradient.baseAddress!
    self.bias = bias?.value.baseAddress
    self.biasGradient = bias?.gradient.baseAddress
  }
}

/// What a pass's head computes for an objective that is not plain next-token cross-entropy (DPO, the reward model,
/// PPO): the log-probability of each position's target and/or scalar-head outputs at chosen positions.
public struct HeadRequest {
  /// Log-probabilities of the row's targets (positions with target ≥ 0).
  public var logProbabilities = false
  /// Also the entropy of each targeted position's next-token distribution (reports only: it gets no gradient).
  public var entropies = false
  public var scalarHead: ScalarHeadView?
  /// Positions the scalar head reads (the last token of each sequence for a reward, every answer token for a value).
  public var scalarPositions: [Int] = []
  /// Log-probabilities (and entropies) of softmax(logits / temperature): the distribution PPO samples from.
  public var temperature: Float = 1

  public init(
    logProbabilities: Bool = false, entropies: Bool = false, scalarHead: ScalarHeadView? = nil,
    scalarPositions: [Int] = [], temperature: Float = 1
  ) {
    self.logProbabilities = logProbabilities
    self.entropies = entropies
    self.scalarHead = scalarHead
    self.scalarPositions = scalarPositions
    self.temperature = temperature
  }
}

/// The head's results for one row.
public struct HeadOutputs: Sendable {
  /// (tokens): log p(target) at positions with a target, 0 elsewhere (and everywhere unless requested).
  public var logProbabilities: [Float]
  /// (tokens) when requested, else empty.
  public var entropies: [Float]
  /// One per requested scalar position, in order.
  public var scalars: [Float]
}

/// An objective's gradient with respect to the head's outputs.
public struct HeadGradients: Sendable {
  /// (tokens): d(loss)/d(log p(target)) per position; empty or zeros where the objective does not depend on it.
  public var logProbabilities: [Float]
  /// d(loss)/d(scalar) per requested scalar position.
  public var scalars: [Float]

  public init(logProbabilities: [Float] = [], scalars: [Float] = []) {
    self.logProbabilities = logProbabilities
    self.scalars = scalars
  }
}

extension TrainingGraph {
  /// One row through the model with `method`'s parts and a head that computes what `request` asks. Without
  /// `gradients` the pass is forward only. With it, the closure turns the outputs into d(loss)/d(outputs) (the
  /// objective sees the whole row first: a DPO pair's loss depends on both sequences' sums), and the backward
  /// accumulates d(loss)/dθ into the method's and the scalar head's gradients.
  public func evaluate(
    _ row: Row, method: (any TrainableMethod)?, request: HeadRequest,
    gradients: ((HeadOutputs) throws -> HeadGradients)? = nil
  ) throws -> HeadOutputs {
    rowMethod = method
    defer { rowMethod = nil }
    for p in request.scalarPositions where p < 0 || p >= row.tokens.count {
      throw TrainingError.invalidOption(
        name: "row", reason: "scalar position \(p) is outside the row of \(row.tokens.count) tokens")
    }
    var outputs: HeadOutputs?
    _ = try run(row, lora: method?.lora, virtual: method?.virtualTokens, backward: gradients != nil) { backward in
      outputs = try objectiveHead(row, request: request, gradients: backward ? gradients : nil)
      return (0, 0)
    }
    return outputs!
  }

  /// Final norm, then the requested log-probabilities (`logitRows` positions at a time, never the whole logits) and
  /// scalars; with `gradients`, their backward into gradResidual. Cross-entropy's gradient with a per-row scale is
  /// the log-probability's gradient: d log p/dz = onehot − softmax, so row r gets scale −g_r.
  func objectiveHead(_ row: Row, request: HeadRequest, gradients: ((HeadOutputs) throws -> HeadGradients)?) throws
    -> HeadOutputs
  {
    let c = model.config
    let n = row.tokens.count
    let d = c.hiddenSize
    let V = c.vocabularySize
    let final = checkpoints.pointer + c.layerCount * capacity * d
    withNorm(nil, .attention, model.weights.finalNorm) { weight, _ in
      rmsNormForward(input: final, weight: weight, output: finalNormed, rows: n, dim: d, epsilon: c.rmsNormEpsilon)
    }
    var outputs = HeadOutputs(
      logProbabilities: [Float](repeating: 0, count: n),
      entropies: request.entropies ? [Float](repeating: 0, count: n) : [],
      scalars: [])
    if let head = request.scalarHead {
      outputs.scalars = request.scalarPositions.map { p in
        dot(finalNormed + p * d, head.weight, count: d) + (head.bias?.pointee ?? 0)
      }
    }
    let positions = request.logProbabilities ? (0..<n).filter { row.targets[$0] >= 0 } : []
    var logitsHold: ArraySlice<Int> = []  // the positions whose logits the buffer still holds
    var start = 0
    while start < positions.count {
      let chunk = positions[start..<min(positions.count, start + logitRows)]
      computeLogits(chunk, temperature: request.temperature)
      var logProbabilities = [Float](repeating: 0, count: chunk.count)
      var entropies = [Float](repeating: 0, count: request.entropies ? chunk.count : 0)
      let targets = chunk.map { row.targets[$0] }
      targets.withUnsafeBufferPointer { t in
        entropies.withUnsafeMutableBufferPointer { e in
          tokenLogProbabilities(
            logits: logits.pointer, targets: t.baseAddress!, rows: chunk.count, vocab: V,
            output: &logProbabilities, entropies: request.entropies ? e.baseAddress : nil, workers: workers)
        }
      }
      for (i, p) in chunk.enumerated() {
        outputs.logProbabilities[p] = logProbabilities[i]
        if request.entropies { outputs.entropies[p] = entropies[i] }
      }
      logitsHold = chunk
      start += chunk.count
    }
    guard let gradients else { return outputs }

    let g = try gradients(outputs)
    precondition(g.logProbabilities.isEmpty || g.logProbabilities.count == n, "one log-probability gradient per token")
    precondition(g.scalars.count == outputs.scalars.count, "one gradient per scalar")
    gradNormed.pointer.initialize(repeating: 0, count: n * d)
    let active = g.logProbabilities.isEmpty ? [] : positions.filter { g.logProbabilities[$0] != 0 }
    start = 0
    while start < active.count {
      let chunk = active[start..<min(active.count, start + logitRows)]
      // A chunk still in `logits` from the first phase has its states in `gatheredHidden` too.
      if !chunk.elementsEqual(logitsHold) { computeLogits(chunk, temperature: request.temperature) }
      logitsHold = []
      let targets = chunk.map { row.targets[$0] }
      // z/T: the chain rule's 1/T rides on each row's scale.
      let scales = chunk.map { -g.logProbabilities[$0] / request.temperature }
      _ = targets.withUnsafeBufferPointer { t in
        crossEntropyForwardBackward(
          logits: logits.pointer, targets: t.baseAddress!, rows: chunk.count, vocab: V, lossScales: scales,
          workers: workers)
      }
      // The rows' scales already carry 1/T: the chunk now holds d(loss)/d(h·Wᵀ), for dW and dh alike.
      accumulateHeadGradient(rows: chunk.count)
      gatheredGradient.pointer.initialize(repeating: 0, count: chunk.count * d)
      frozenLinearBackward(
        outputGradient: logits.pointer, ldOutputGradient: V, tokens: chunk.count, weight: model.head(with: rowMatrices),
        inputGradient: gatheredGradient.pointer, tiles: tiles, partials: partials.pointer)
      for (i, p) in chunk.enumerated() {
        addInPlace(gradNormed.pointer + p * d, gatheredGradient.pointer + i * d, count: d)
      }
      start += chunk.count
    }
    if let head = request.scalarHead {
      for (i, p) in request.scalarPositions.enumerated() {
        let gs = g.scalars[i]
        guard gs != 0 else { continue }
        let h = finalNormed + p * d
        for j in 0..<d {
          gradNormed.pointer[p * d + j] += gs * head.weight[j]
          head.weightGradient[j] += gs * h[j]
        }
        head.biasGradient?.pointee += gs
      }
    }
    gradResidual.pointer.initialize(repeating: 0, count: n * d)
    withNorm(nil, .attention, model.weights.finalNorm) { weight, weightGradient in
      rmsNormBackward(
        input: final, weight: weight, outputGradient: gradNormed.pointer, inputGradient: gradResidual.pointer,
        weightGradient: weightGradient, rows: n, dim: d, epsilon: c.rmsNormEpsilon)
    }
    return outputs
  }

  /// Logits of the normed final states at `positions` (at most `logitRows`) into `logits`, divided by `temperature`.
  private func computeLogits(_ positions: ArraySlice<Int>, temperature: Float) {
    let d = model.config.hiddenSize
    for (i, p) in positions.enumerated() {
      (gatheredHidden.pointer + i * d).update(from: finalNormed + p * d, count: d)
    }
    frozenLinearForward(
      input: gatheredHidden.pointer, tokens: positions.count, weight: model.head(with: rowMatrices),
      output: logits.pointer,
      ldOutput: model.config.vocabularySize, tiles: tiles)
    if temperature != 1 {
      let inverse = 1 / temperature
      let count = positions.count * model.config.vocabularySize
      for i in 0..<count { logits.pointer[i] *= inverse }
    }
  }
}
