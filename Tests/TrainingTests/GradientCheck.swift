import Foundation
import Memory
import Model
import Testing
import Training

/// Central finite differences of a Float forward pass against analytic gradients, at `samples` random entries of
/// one trainable tensor. ε = 1e-2 and a tolerance of 2e-2 relative + 2e-3 absolute cover the Float rounding of a
/// summed loss of ~60 nats. So that the absolute floor is not what passes a check, the largest sampled gradient must
/// be at least 5× that floor: a tensor whose sampled gradients are all near zero proves nothing (sample more).
/// Returns the worst relative error seen (for the test log).
func checkGradients(
  _ name: String, values: UnsafeMutableBufferPointer<Float>, gradients: UnsafeMutableBufferPointer<Float>,
  samples: Int, generator: inout SeededGenerator, loss: () throws -> Double
) rethrows -> Double {
  var worst = 0.0
  var largest = 0.0
  for _ in 0..<samples {
    let i = Int(generator.next() % UInt64(values.count))
    let original = values[i]
    let epsilon: Float = 1e-2
    values[i] = original + epsilon
    let plus = try loss()
    values[i] = original - epsilon
    let minus = try loss()
    values[i] = original
    let numeric = (plus - minus) / Double(2 * epsilon)
    largest = max(largest, abs(numeric))
    let analytic = Double(gradients[i])
    let error = abs(numeric - analytic)
    worst = max(worst, error / max(abs(numeric), 1e-1))
    #expect(error <= 2e-2 * abs(numeric) + 2e-3, "\(name)[\(i)]: analytic \(analytic), numeric \(numeric)")
  }
  #expect(largest >= 1e-2, "\(name): the largest of \(samples) sampled gradients is \(largest), near the floor")
  return worst
}

/// One backward pass of `row` with `method` (gradients zeroed first), then `checkGradients` on `samples` entries of
/// each of `tensors`, perturbing them through the graph's forward-only loss. Returns the worst relative error.
func checkMethodGradients(
  _ method: any TrainableMethod, graph: TrainingGraph, row: TrainingGraph.Row, tensors: [ParameterTensor],
  samples: Int, seed: UInt64
) throws -> Double {
  method.parameters.zeroGradients()
  _ = try graph.accumulateGradients(row, method: method, lossScale: 1)
  var generator = SeededGenerator(seed: seed)
  var worst = 0.0
  for tensor in tensors {
    let error = try checkGradients(
      tensor.name, values: tensor.value, gradients: tensor.gradient, samples: samples, generator: &generator
    ) { try graph.loss(row, method: method).lossSum }
    worst = max(worst, error)
  }
  return worst
}

/// The summed next-token loss of `row`'s targeted positions through an inference session with `method`'s hooks:
/// the independent path the training graph's loss is compared with.
func inferenceLossSum(_ model: LanguageModel, _ row: TrainingGraph.Row, method: (any TrainableMethod)?) throws
  -> Double
{
  let session = try InferenceSession(model: model, capacity: 16, adapter: method?.lora, ledger: MemoryLedger())
  session.apply(method)
  var total = 0.0
  try session.forward(row.tokens, logits: .all) { i, logits in
    guard row.targets[i] >= 0 else { return }
    let m = Double(logits.max()!)
    total += m + log(logits.reduce(0.0) { $0 + exp(Double($1) - m) }) - Double(logits[Int(row.targets[i])])
  }
  return total
}
