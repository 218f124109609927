import Foundation
import Memory
import Testing
import Training

@Suite struct OptimClippingTests {
  @Test func normSpansAllTensorsAndClipsLikeTorch() throws {
    let store = try ParameterStore([("a", [2]), ("b", [1, 3])], label: "clip", ledger: MemoryLedger())
    AdapterTestSupport.set(store["a"]!.gradient, [3, 0])
    AdapterTestSupport.set(store["b"]!.gradient, [0, 4, 12])
    #expect(store.gradientNorm() == 13)
    let norm = store.clipGradients(maxNorm: 1)
    #expect(norm == 13)
    let coefficient = Float(1 / (13 + 1e-6))  // torch: max_norm / (total_norm + 1e-6)
    #expect(Array(store["a"]!.gradient) == [3 * coefficient, 0])
    #expect(Array(store["b"]!.gradient) == [0, 4 * coefficient, 12 * coefficient])
    #expect(abs(store.gradientNorm() - 1) < 1e-6)
  }

  @Test func smallGradientsAreLeftAlone() throws {
    let store = try ParameterStore([("a", [3])], label: "clip", ledger: MemoryLedger())
    AdapterTestSupport.set(store["a"]!.gradient, [0.1, -0.2, 0.2])
    #expect(abs(store.clipGradients(maxNorm: 1) - 0.3) < 1e-7)
    #expect(Array(store["a"]!.gradient) == [0.1, -0.2, 0.2])
  }

  @Test func nonFiniteNormIsReportedAndNothingIsScaled() throws {
    let store = try ParameterStore([("a", [2])], label: "clip", ledger: MemoryLedger())
    AdapterTestSupport.set(store["a"]!.gradient, [.nan, 1])
    #expect(store.clipGradients(maxNorm: 1).isNaN)
    #expect(store["a"]!.gradient[1] == 1)
  }

  @Test func normMatchesDoubleSumOnALargeBuffer() throws {
    let store = try ParameterStore([("a", [1000, 37]), ("b", [5])], label: "clip", ledger: MemoryLedger())
    AdapterTestSupport.fill(store["a"]!.gradient, seed: 1)
    AdapterTestSupport.fill(store["b"]!.gradient, seed: 2)
    let reference = store.allGradients.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    #expect(abs(store.gradientNorm() - reference) <= 1e-6 * reference)
  }
}
