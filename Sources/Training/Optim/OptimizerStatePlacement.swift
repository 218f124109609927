import Foundation
public import Memory
public import Paging

/// Where the user asks for the optimizer state to live (`--optimizer-state`), before the planner decides `auto`.
public enum OptimizerStateRequest: Sendable, Equatable, CustomStringConvertible {
  /// RAM when the plan fits the budget, else paged to a spill file in `directory` (nil: the default, /var/tmp).
  case auto(directory: String?)
  case ram
  /// RAM on a NUMA node: nil means the node local to the training threads.
  case numa(node: Int?)
  /// Paged to a spill file in `directory`.
  case disk(directory: String)

  /// Parses `auto`, `auto:DIR`, `ram`, `disk`, `disk:DIR`, `numa`, `numa:NODE`.
  public init(parsing text: String) throws(TrainingError) {
    let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    let argument = parts.count > 1 ? parts[1] : nil
    switch (parts.first ?? "", argument) {
    case ("auto", nil): self = .auto(directory: nil)
    case ("auto", let directory?) where !directory.isEmpty: self = .auto(directory: directory)
    case ("ram", nil): self = .ram
    case ("disk", nil): self = .disk(directory: OptimizerStatePlacement.defaultSpillDirectory)
    case ("disk", let directory?) where !directory.isEmpty: self = .disk(directory: directory)
    case ("numa", nil): self = .numa(node: nil)
    case ("numa", let node?):
      guard let number = Int(node), number >= 0 else {
        throw .invalidOption(name: "optimizerState", reason: "numa:\(node): the node must be a number ≥ 0")
      }
      self = .numa(node: number)
    default:
      throw .invalidOption(
        name: "optimizerState", reason: "'\(text)' is not one of auto[:DIR], ram, disk[:DIR], numa[:NODE]")
    }
  }

  public var description: String {
    switch self {
    case .auto(let directory): directory.map { "auto:\($0)" } ?? "auto"
    case .ram: "ram"
    case .numa(let node): node.map { "numa:\($0)" } ?? "numa"
    case .disk(let directory): "disk:\(directory)"
    }
  }
}

/// Where the optimizer state will live, decided: what the trainer builds its `OptimizerStateStore` from.
public struct OptimizerStatePlacement: Sendable, Equatable {
  public enum Kind: Sendable, Equatable {
    case ram
    case numa(node: Int)
    case disk(directory: String)
  }

  /// /var/tmp, not /tmp: /tmp is often a tmpfs, which would put the "spilled" state back in RAM.
  public static let defaultSpillDirectory = "/var/tmp"
  /// Frames kept in RAM by default when paging: 32 pages of 512 KiB.
  public static let defaultResidentBytes = 16 << 20

  public var kind: Kind
  public var compression: SpillFile.Compression
  public var residentBytes: Int
  public var elementsPerPage: Int
  /// 32: fp32 moments (exact, torch's AdamW); 8: bitsandbytes-style blockwise 8-bit moments.
  public var bits: Int

  public init(
    _ kind: Kind, compression: SpillFile.Compression = .lz4, residentBytes: Int = defaultResidentBytes,
    elementsPerPage: Int = PagedOptimizerState.defaultElementsPerPage, bits: Int = 32
  ) {
    precondition(bits == 32 || bits == 8, "optimizer state is fp32 or 8-bit")
    self.kind = kind
    self.compression = compression
    self.residentBytes = residentBytes
    self.elementsPerPage = elementsPerPage
    self.bits = bits
  }

  public static let ram = OptimizerStatePlacement(.ram)

  /// The spill directory when paged to disk.
  public var directory: String? {
    if case .disk(let directory) = kind { directory } else { nil }
  }

  /// The placement for an explicit request, or nil for `auto` (the planner decides). NUMA on a machine with one
  /// node, or where libnuma reports NUMA unavailable, falls back to plain RAM with a notice saying so.
  public static func resolve(
    _ request: OptimizerStateRequest, compression: SpillFile.Compression = .lz4,
    residentBytes: Int = defaultResidentBytes, bits: Int = 32
  ) throws(TrainingError) -> (placement: OptimizerStatePlacement, notice: String?)? {
    let ram = OptimizerStatePlacement(.ram, bits: bits)
    switch request {
    case .auto: return nil
    case .ram: return (ram, nil)
    case .disk(let directory):
      return (
        OptimizerStatePlacement(
          .disk(directory: directory), compression: compression, residentBytes: residentBytes, bits: bits), nil
      )
    case .numa(let node):
      guard NUMATopology.isAvailable else {
        return (ram, "libnuma reports NUMA unavailable on this machine: optimizer state stays in ordinary RAM")
      }
      let nodes = NUMATopology.nodeCount
      if let node, node >= nodes {
        throw .invalidOption(name: "optimizerState", reason: "numa:\(node): this machine has nodes 0..<\(nodes)")
      }
      let placement = OptimizerStatePlacement(.numa(node: node ?? NUMATopology.currentNode ?? 0), bits: bits)
      // One node still takes the NUMA path (placed, bound, checked), so it is the code a two-node board runs.
      let notice =
        nodes > 1
        ? nil
        : "this machine has one NUMA node: the state is placed on node 0 and the threads bound to its CPUs, which "
          + "are all of them (the same memory and CPUs as --optimizer-state ram)"
      return (placement, notice)
    }
  }

  /// Bytes the state reserves in the ledger, by label, for the trainable tensors of `tensorCounts` elements (laid
  /// out as `ParameterStore` lays them out).
  public func plannedBytes(tensorCounts: [Int]) -> [(label: String, bytes: Int, note: String)] {
    let count = tensorCounts.reduce(0) { $0 + ParameterStore.paddedCount($1) }
    let smallElements = tensorCounts.filter { $0 < QuantizedOptimizerState.minimum8BitElements }.reduce(0, +)
    let resident8Bit = bits == 8 && directory == nil
    let perPage =
      resident8Bit ? QuantizedOptimizerState.elementsPerPage(requested: elementsPerPage, count: count) : elementsPerPage
    let pageBytes = bits == 8 ? QuantizedOptimizerState.pageBytes(elementsPerPage: perPage) : 8 * perPage
    let pages = max(1, (count + perPage - 1) / perPage)
    var lines: [(label: String, bytes: Int, note: String)] = []
    if bits == 8 {
      lines.append(("optimizer-8bit-scratch", 8 * perPage, "one page of both moments decoded to fp32"))
      if smallElements > 0 {
        lines.append(("optimizer-state", 8 * smallElements, "fp32 moments of tensors under 4096 elements"))
      }
    }
    switch kind {
    case .ram where bits == 8, .numa where bits == 8:
      lines.append(("optimizer-state-8bit", max(2, pages) * pageBytes, "AdamW moments, 8-bit blockwise (256)"))
    case .ram:
      lines.append(("optimizer-state", 8 * count, "AdamW first and second moments, fp32"))
    case .numa(let node):
      lines.append(("optimizer-state", 8 * count, "AdamW moments, fp32, on NUMA node \(node)"))
    case .disk(let directory):
      let frames = min(max(3, residentBytes / pageBytes), pages + 1)
      let spillBuffer = compression == .lz4 ? pageBytes + pageBytes / 255 + 16 : pageBytes
      lines += [
        (
          "optimizer-pages", frames * pageBytes,
          "\(frames) of \(pages) pages of \(bits == 8 ? "8-bit " : "")AdamW moments resident; the rest in \(directory)"
        ),
        ("optimizer-spill-buffer", spillBuffer, "one page's compression buffer"),
      ]
    }
    return lines
  }

  /// Builds the store for the moments of `parameters`.
  /// On a NUMA node, every thread of the process is bound to that node's CPUs first, so the steps that touch the
  /// state run where it lives.
  public func makeStore(parameters: ParameterStore, ledger: MemoryLedger) throws -> any OptimizerStateStore {
    let count = parameters.count
    if case .numa(let node) = kind { try NUMATopology.bindProcess(toNodes: [node]) }
    switch (kind, bits) {
    case (.ram, 8):
      return try QuantizedOptimizerState(parameters: parameters, elementsPerPage: elementsPerPage, ledger: ledger)
    case (.numa(let node), 8):
      return try QuantizedOptimizerState(
        parameters: parameters, elementsPerPage: elementsPerPage, numaNode: node, ledger: ledger)
    case (.disk(let directory), 8):
      let pageBytes = QuantizedOptimizerState.pageBytes(elementsPerPage: elementsPerPage)
      let spill = try SpillFile(
        directory: directory, pageCount: max(1, (count + elementsPerPage - 1) / elementsPerPage),
        pageBytes: pageBytes, compression: compression, ledger: ledger)
      return try QuantizedOptimizerState(
        parameters: parameters, elementsPerPage: elementsPerPage, backing: spill, residentBytes: residentBytes,
        ledger: ledger)
    case (.ram, _): return try InMemoryOptimizerState(count: count, ledger: ledger)
    case (.numa(let node), _): return try InMemoryOptimizerState(count: count, numaNode: node, ledger: ledger)
    case (.disk(let directory), _):
      let pages = PagedOptimizerState.pageCount(count: count, elementsPerPage: elementsPerPage)
      let spill = try SpillFile(
        directory: directory, pageCount: pages, pageBytes: 8 * elementsPerPage, compression: compression,
        ledger: ledger)
      return try PagedOptimizerState(
        count: count, elementsPerPage: elementsPerPage, residentBytes: residentBytes, backing: spill, ledger: ledger)
    }
  }
}
