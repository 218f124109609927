import Model
import Testing

/// Central finite differences of a Float forward pass against analytic gradients, at `samples` random entries of
/// one trainable tensor. ε = 1e-2 and a tolerance of 2e-2 relative + 2e-3 absolute cover the Float rounding of a
/// summed loss of ~60 nats. Returns the worst relative error seen (for the test log).
func checkGradients(
  _ name: String, values: UnsafeMutableBufferPointer<Float>, gradients: UnsafeMutableBufferPointer<Float>,
  samples: Int, generator: inout SeededGenerator, loss: () throws -> Double
) rethrows -> Double {
  var worst = 0.0
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
    let analytic = Double(gradients[i])
    let error = abs(numeric - analytic)
    worst = max(worst, error / max(abs(numeric), 1e-1))
    #expect(error <= 2e-2 * abs(numeric) + 2e-3, "\(name)[\(i)]: analytic \(analytic), numeric \(numeric)")
  }
  return worst
}
