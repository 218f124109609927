import Foundation
import Memory
import Paging
import Testing
import Training

/// AdamW over paged state (a spill file with a few resident pages) against AdamW in RAM: paging moves bytes and must
/// never change them.
@Suite struct OptimPagedStateTests {
  /// Tensors that straddle 64-element pages in every way: smaller than a page, several pages, unaligned ends.
  static let specs: [(name: String, shape: [Int])] = [
    ("a", [7, 19]), ("b", [3]), ("c", [64, 5]), ("d", [40, 16]), ("e", [1, 129]),
  ]
  static let elementsPerPage = 64

  static func paged(
    _ store: ParameterStore, directory: String, compression: SpillFile.Compression, ledger: MemoryLedger
  ) throws -> PagedOptimizerState {
    let pages = PagedOptimizerState.pageCount(count: store.count, elementsPerPage: elementsPerPage)
    let spill = try SpillFile(
      directory: directory, pageCount: pages, pageBytes: 8 * elementsPerPage, compression: compression, ledger: ledger)
    return try PagedOptimizerState(
      count: store.count, elementsPerPage: elementsPerPage, residentBytes: 3 * 8 * elementsPerPage, backing: spill,
      ledger: ledger)
  }

  /// Two identical parameter stores, one optimizer in RAM and one paged, stepped `steps` times with the same
  /// gradients; `between` runs after each step (to damage or delete the spill).
  static func twins(
    compression: SpillFile.Compression, steps: Int, between: (Int, PagedOptimizerState) throws -> Void = { _, _ in }
  ) throws -> (ram: (ParameterStore, AdamW), paged: (ParameterStore, AdamW)) {
    let directory = try AdapterTestSupport.scratchDirectory("paged")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let ledger = MemoryLedger()
    let hyper = AdamW.Hyperparameters(weightDecay: 0.05)
    let ramStore = try ParameterStore(specs, label: "r", ledger: ledger)
    let pagedStore = try ParameterStore(specs, label: "p", ledger: ledger)
    for (a, b) in zip(ramStore.tensors, pagedStore.tensors) {
      AdapterTestSupport.fill(a.value, seed: UInt64(a.offset + 1))
      AdapterTestSupport.fill(b.value, seed: UInt64(b.offset + 1))
    }
    let state = try paged(pagedStore, directory: directory, compression: compression, ledger: ledger)
    #expect(state.cache.pageCount > 3 * state.cache.frameCount / 2, "the state must not fit the resident pages")
    let ram = try AdamW(parameters: ramStore, hyperparameters: hyper, ledger: ledger)
    let pagedOptimizer = try AdamW(parameters: pagedStore, hyperparameters: hyper, state: state, ledger: ledger)
    for step in 0..<steps {
      for store in [ramStore, pagedStore] {
        for (t, tensor) in store.tensors.enumerated() {
          AdapterTestSupport.fill(tensor.gradient, seed: UInt64(1000 * step + t))
        }
      }
      try ram.step(ramStore, learningRate: 1e-2)
      try pagedOptimizer.step(pagedStore, learningRate: 1e-2)
      try between(step, state)
    }
    return ((ramStore, ram), (pagedStore, pagedOptimizer))
  }

  @Test(arguments: SpillFile.Compression.allCases) func pagedStateGivesBitIdenticalSteps(
    compression: SpillFile.Compression
  ) throws {
    let (ram, paged) = try Self.twins(compression: compression, steps: 6)
    #expect(Array(ram.0.allValues) == Array(paged.0.allValues))
    for tensor in ram.0.tensors {
      let a = try moments(ram.1.state, tensor.range)
      let b = try moments(paged.1.state, tensor.range)
      #expect(a.m == b.m && a.v == b.v, "moments of \(tensor.name)")
    }
    let stats = try #require(paged.1.state.paging)
    #expect(stats.pagesOut > 0 && stats.pagesIn > 0, "the state was really paged")
  }

  @Test func aCheckpointOfPagedStateHoldsAllOfIt() throws {
    let directory = try AdapterTestSupport.scratchDirectory("paged-checkpoint")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (ram, paged) = try Self.twins(compression: .lz4, steps: 3)
    try paged.1.save(to: directory + "/paged.safetensors", parameters: paged.0)
    try ram.1.save(to: directory + "/ram.safetensors", parameters: ram.0)
    let a = try Data(contentsOf: URL(fileURLWithPath: directory + "/paged.safetensors"))
    let b = try Data(contentsOf: URL(fileURLWithPath: directory + "/ram.safetensors"))
    #expect(a == b, "a checkpoint of paged state is byte-identical to one of state in RAM")
    // And loading it into paged state restores every page.
    let ledger = MemoryLedger()
    let restored = try Self.paged(paged.0, directory: directory, compression: .lz4, ledger: ledger)
    let optimizer = try AdamW(
      parameters: paged.0, hyperparameters: AdamW.Hyperparameters(weightDecay: 0.05), state: restored, ledger: ledger)
    try optimizer.load(from: directory + "/ram.safetensors", parameters: paged.0)
    for tensor in ram.0.tensors {
      let x = try moments(ram.1.state, tensor.range)
      let y = try moments(optimizer.state, tensor.range)
      #expect(x.m == y.m && x.v == y.v)
    }
  }

  @Test func aSpillDirectoryDeletedMidRunChangesNothing() throws {
    let (ram, paged) = try Self.twins(compression: .lz4, steps: 5) { step, state in
      guard step == 1, let spill = state.cache.backing as? SpillFile else { return }
      try FileManager.default.removeItem(atPath: spill.directory)
    }
    #expect(Array(ram.0.allValues) == Array(paged.0.allValues))
  }

  @Test func aDamagedSpillPageStopsTheStepWithAClearError() throws {
    #expect {
      _ = try Self.twins(compression: .none, steps: 4) { step, state in
        guard step == 1, let spill = state.cache.backing as? SpillFile else { return }
        let handle = try #require(FileHandle(forUpdatingAtPath: spill.path))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: Int(size)))
        try handle.close()
      }
    } throws: { error in
      guard case PagingError.corruptSpillPage = error else { return false }
      return "\(error)".contains("resume from the last checkpoint")
    }
  }

  @Test func placementsParseAndNUMAFallsBackWithANotice() throws {
    #expect(try OptimizerStateRequest(parsing: "auto") == .auto(directory: nil))
    #expect(try OptimizerStateRequest(parsing: "auto:/scratch") == .auto(directory: "/scratch"))
    #expect(try OptimizerStateRequest(parsing: "ram") == .ram)
    #expect(try OptimizerStateRequest(parsing: "disk") == .disk(directory: "/var/tmp"))
    #expect(try OptimizerStateRequest(parsing: "disk:/scratch/x") == .disk(directory: "/scratch/x"))
    #expect(try OptimizerStateRequest(parsing: "numa") == .numa(node: nil))
    #expect(try OptimizerStateRequest(parsing: "numa:1") == .numa(node: 1))
    for bad in ["", "rom", "disk:", "numa:x", "numa:-1", "ram:3"] {
      #expect(throws: TrainingError.self) { try OptimizerStateRequest(parsing: bad) }
    }
    let resolved = try #require(try OptimizerStatePlacement.resolve(.numa(node: nil)))
    if !NUMATopology.isAvailable {
      #expect(resolved.placement == .ram && resolved.notice?.contains("ordinary RAM") == true)
    } else {
      #expect(resolved.placement.kind == .numa(node: NUMATopology.currentNode ?? 0))
      #expect((resolved.notice == nil) == (NUMATopology.nodeCount > 1))
    }
    #expect(throws: TrainingError.self) { try OptimizerStatePlacement.resolve(.numa(node: NUMATopology.nodeCount)) }
    #expect(try OptimizerStatePlacement.resolve(.auto(directory: nil)) == nil)
  }

  /// Where Tools/test runs: a machine without NUMA fails the NUMA test instead of skipping it.
  static let required = ProcessInfo.processInfo.environment["EDGETUNE_REQUIRE_MODEL"] == "1"

  /// The NUMA path on every node the machine has: the state placed on the node (its pages checked there by the
  /// kernel's own answer), every thread bound to the node's CPUs, and AdamW's steps bit-identical to RAM's. With
  /// one node (this CI machine), node 0 is all the memory and CPUs there are: the path runs, and the test says a
  /// second node could not be tried.
  @Test(.enabled(if: NUMATopology.isAvailable || Self.required)) func numaPlacedStateStepsLikeRAM() throws {
    try #require(NUMATopology.isAvailable, "libnuma reports NUMA unavailable")
    let nodes = Array(0..<NUMATopology.nodeCount)
    defer { _ = try? NUMATopology.bindProcess(toNodes: nodes) }
    print(
      "OptimPagedStateTests: NUMA nodes \(nodes)"
        + (nodes.count > 1 ? "" : " (one node: a second node cannot be tried on this machine)"))
    for node in nodes {
      let ledger = MemoryLedger()
      let a = try ParameterStore(Self.specs, label: "a", ledger: ledger)
      let b = try ParameterStore(Self.specs, label: "b", ledger: ledger)
      let ram = try AdamW(parameters: a, ledger: ledger)
      let placement = OptimizerStatePlacement(.numa(node: node))
      let store = try #require(try placement.makeStore(parameters: b, ledger: ledger) as? InMemoryOptimizerState)
      #expect(NUMATopology.currentNode == node, "the thread was not bound to node \(node)")
      let numa = try AdamW(parameters: b, state: store, ledger: ledger)
      #expect(numa.state.summary == "RAM on NUMA node \(node)")
      for step in 0..<3 {
        for store in [a, b] {
          for (t, tensor) in store.tensors.enumerated() {
            AdapterTestSupport.fill(tensor.gradient, seed: UInt64(step + t))
          }
        }
        try ram.step(a, learningRate: 1e-2)
        try numa.step(b, learningRate: 1e-2)
      }
      #expect(Array(a.allValues) == Array(b.allValues))
      let pages = store.pagesByNUMANode()
      print("OptimPagedStateTests: node \(node): state pages by node \(pages)")
      #expect(pages.keys.sorted() == [node] && pages[node]! > 0, "pages by node: \(pages)")
    }
  }
}
