import Formats
import Foundation
import Memory
import Testing
import Training

@Suite struct OptimCheckpointTests {
  static let specs: [(name: String, shape: [Int])] = [("w.a", [4, 9]), ("w.b", [9, 4]), ("bias", [3])]

  /// Steps `optimizer` `steps` times from `first` with seeded gradients and a fixed lr sequence.
  static func train(_ store: ParameterStore, _ optimizer: AdamW, from first: Int, steps: Int) throws {
    for step in first..<(first + steps) {
      for (t, tensor) in store.tensors.enumerated() {
        AdapterTestSupport.fill(tensor.gradient, seed: UInt64(1000 * step + t))
      }
      try optimizer.step(store, learningRate: 1e-2 / Double(step + 1))
    }
  }

  static func copyValues(from source: ParameterStore, to destination: ParameterStore) {
    for i in 0..<source.count { destination.allValues[i] = source.allValues[i] }
  }

  @Test func saveThenLoadContinuesIdentically() throws {
    let directory = try AdapterTestSupport.scratchDirectory("adamw")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/optimizer.safetensors"
    let ledger = MemoryLedger()
    let hyper = AdamW.Hyperparameters(weightDecay: 0.05)

    let store = try ParameterStore(Self.specs, label: "p", ledger: ledger)
    for tensor in store.tensors { AdapterTestSupport.fill(tensor.value, seed: UInt64(tensor.offset)) }
    let optimizer = try AdamW(parameters: store, hyperparameters: hyper, ledger: ledger)
    try Self.train(store, optimizer, from: 0, steps: 3)
    try optimizer.save(to: path, parameters: store)

    // A second run: fresh parameters with the same values, a fresh optimizer, the state loaded.
    let resumed = try ParameterStore(Self.specs, label: "q", ledger: ledger)
    Self.copyValues(from: store, to: resumed)
    let reloaded = try AdamW(parameters: resumed, hyperparameters: hyper, ledger: ledger)
    try reloaded.load(from: path, parameters: resumed)
    #expect(reloaded.stepCount == 3)

    try Self.train(store, optimizer, from: 3, steps: 2)
    try Self.train(resumed, reloaded, from: 3, steps: 2)
    #expect(Array(store.allValues) == Array(resumed.allValues))
    for tensor in store.tensors {
      let (m1, v1) = try moments(optimizer.state, tensor.range)
      let (m2, v2) = try moments(reloaded.state, tensor.range)
      #expect(m1 == m2 && v1 == v2)
    }
  }

  @Test func fileUsesTorchStateNamesAndShapes() throws {
    let directory = try AdapterTestSupport.scratchDirectory("adamw-names")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try ParameterStore(Self.specs, label: "p", ledger: MemoryLedger())
    let optimizer = try AdamW(parameters: store, ledger: MemoryLedger())
    try Self.train(store, optimizer, from: 0, steps: 1)
    try optimizer.save(to: directory + "/s.safetensors", parameters: store)
    let file = try SafetensorsFileProbe(path: directory + "/s.safetensors")
    #expect(
      file.names == [
        "w.a.exp_avg", "w.a.exp_avg_sq", "w.b.exp_avg", "w.b.exp_avg_sq", "bias.exp_avg", "bias.exp_avg_sq",
      ])
    #expect(file.shapes["w.b.exp_avg_sq"] == [9, 4])
    #expect(file.metadata["edgetune.optimizer.step"] == "1")
  }

  @Test func damagedOrMismatchedFilesAreRefused() throws {
    let directory = try AdapterTestSupport.scratchDirectory("adamw-bad")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/optimizer.safetensors"
    let store = try ParameterStore(Self.specs, label: "p", ledger: MemoryLedger())
    let optimizer = try AdamW(parameters: store, ledger: MemoryLedger())
    try Self.train(store, optimizer, from: 0, steps: 2)
    try optimizer.save(to: path, parameters: store)

    // missing file
    #expect(throws: TrainingError.self) { try optimizer.load(from: directory + "/none", parameters: store) }

    // other parameters (a shape differs, a tensor is unknown)
    let other = try ParameterStore(
      [("w.a", [4, 9]), ("w.b", [4, 9]), ("bias", [3])], label: "o", ledger: MemoryLedger())
    let otherOptimizer = try AdamW(parameters: other, ledger: MemoryLedger())
    let shapeError = #expect(throws: TrainingError.self) { try otherOptimizer.load(from: path, parameters: other) }
    #expect(shapeError?.description.contains("w.b.exp_avg") == true)
    let fewer = try ParameterStore([("w.a", [4, 9])], label: "f", ledger: MemoryLedger())
    let fewerOptimizer = try AdamW(parameters: fewer, ledger: MemoryLedger())
    let unknown = #expect(throws: TrainingError.self) { try fewerOptimizer.load(from: path, parameters: fewer) }
    #expect(unknown?.description.contains("does not belong") == true)

    // different β2
    let betas = try AdamW(parameters: store, hyperparameters: .init(beta2: 0.99), ledger: MemoryLedger())
    #expect(throws: TrainingError.self) { try betas.load(from: path, parameters: store) }

    // a flipped byte in the data: the checksum catches it, and the state is untouched
    try AdapterTestSupport.flipByte(path, fromEnd: 5)
    let fresh = try AdamW(parameters: store, ledger: MemoryLedger())
    let damaged = #expect(throws: TrainingError.self) { try fresh.load(from: path, parameters: store) }
    #expect(damaged?.description.contains("checksum") == true)
    #expect(fresh.stepCount == 0)
  }
}

/// Reads a safetensors header with the public reader: names in data order, shapes and metadata.
struct SafetensorsFileProbe {
  var names: [String]
  var shapes: [String: [Int]]
  var metadata: [String: String]
  var dtypes: [String: String]

  init(path: String) throws {
    let file = try Formats.SafetensorsFile(path: path)
    names = file.entries.map(\.name)
    shapes = Dictionary(uniqueKeysWithValues: file.entries.map { ($0.name, $0.shape) })
    dtypes = Dictionary(uniqueKeysWithValues: file.entries.map { ($0.name, $0.dtype) })
    metadata = file.metadata
  }
}
