public import Memory
public import Tensor

/// The memory a model's frozen weights and the process around them take, for plans: mapped weight pages (all of them,
/// or the streamed window) and the runtime the ledger does not see.
public struct WeightPlan: Sendable {
  /// Bytes of every frozen matrix as stored (what a fully resident run maps in).
  public let residentBytes: Int
  /// The largest layer's matrices: what one streamed layer maps in while a pass works on it.
  public let largestLayerBytes: Int
  /// Per layer, for choosing how many stay resident.
  public let layerBytes: [Int]
  /// Embedding and head in flight when streamed: workers' tiles of codes plus their block scales.
  public let headWindowBytes: Int
  /// Norm vectors and biases, copied to fp32 arrays at load.
  public let vectorBytes: Int
  public let vocabularySize: Int

  public init(model: LanguageModel, workers: Int = Threading.workers) {
    let w = model.weights
    layerBytes = w.layers.map { layer in layer.matrices.reduce(0) { $0 + $1.storageBytes } }
    residentBytes = model.weightStorageBytes
    largestLayerBytes = layerBytes.max() ?? 0
    let head = w.head
    let perWeight = Double(head.storageBytes) / Double(max(1, head.rows * head.cols))
    let tileBytes = Int(Double(DecodeTiles.defaultTileFloats) * perWeight)
    // Each worker holds its tile's block and the one behind it (dropped when the next tile starts), and the
    // embedding lookups one block; the block scales (1/32 of an NF4 matrix's codes) stay until the pass ends.
    headWindowBytes =
      workers * (tileBytes + 2 * Self.largestFolioBytes) + Self.largestFolioBytes + head.storageBytes / 32
      + (model.config.tiedEmbeddings ? 0 : w.embedding.storageBytes / 32)
    let c = model.config
    vectorBytes =
      (c.layerCount * 2 + 1) * c.hiddenSize * 4
      + (c.hasAttentionBias ? c.layerCount * (c.queryDim + 2 * c.kvDim) * 4 : 0)
    vocabularySize = c.vocabularySize
  }

  /// The most one read fault can map: a PMD-sized large folio of the page cache (x86-64, arm64 with 4 KiB pages).
  public static let largestFolioBytes = 2 << 20

  /// `range` widened to whole large-folio blocks: what one fault inside it may have mapped.
  public static func folioAligned(_ range: Range<Int>) -> Range<Int> {
    let block = largestFolioBytes
    return (range.lowerBound / block * block)..<((range.upperBound + block - 1) / block * block)
  }

  /// Mapped weight bytes under a residency policy.
  public func mappedBytes(_ policy: WeightResidency.Policy) -> Int {
    switch policy {
    case .resident: return residentBytes
    case .streaming(let residentLayers):
      let kept = layerBytes.prefix(residentLayers).reduce(0, +)
      // A streamed layer in flight, with up to a large folio mapped past each end.
      let inFlight = residentLayers < layerBytes.count ? largestLayerBytes + 2 * Self.largestFolioBytes : 0
      return kept + inFlight + headWindowBytes
    }
  }

  /// The plan lines for weights under `policy`.
  public func lines(_ policy: WeightResidency.Policy) -> [MemoryPlan.Line] {
    let note: String
    switch policy {
    case .resident: note = "all \(layerBytes.count) layers, embedding and head mapped in"
    case .streaming(let k):
      note = "streamed: \(k) of \(layerBytes.count) layers resident, one more in flight, head/embedding by tiles"
    }
    return [
      MemoryPlan.Line("weights", mappedBytes(policy), .weights, note),
      MemoryPlan.Line("weight-vectors", vectorBytes, .runtime, "norms and biases as fp32"),
    ]
  }

  /// What the process holds besides the ledger and the weights: libraries and runtime (measured on Debian 12 with
  /// Swift 6.3: ~26 MiB of library pages and runtime heap), the tokenizer's tables (`tokenizerBytes`), and `extra`
  /// (the data, for training).
  public func runtimeLines(extra: [MemoryPlan.Line] = []) -> [MemoryPlan.Line] {
    [
      MemoryPlan.Line("runtime", 26 << 20, .runtime, "libraries, Swift runtime, threads"),
      MemoryPlan.Line(
        "tokenizer", Self.tokenizerBytes(vocabularySize), .runtime, "\(vocabularySize) tokens and merges"),
    ] + extra
  }

  /// The tokenizer's tables as it lays them out (`BPETokenizer.tableBytes`): per token an offset, two flags and a
  /// GGUF type (10 B) and its text (8 B on average here; SmolLM2's is 6.8 B), an id index of the power of two at
  /// least 2V slots of 4 B, and a merge table for up to V rules (byte-level BPE has V - 256 - specials) at most 3/4
  /// full, 16 B a slot. SmolLM2 (49,152): 2.40 MB counted, 2.0 MiB of RssAnon kept after the load
  /// (TokenizerMemoryTests); this gives 2.46 MB.
  public static func tokenizerBytes(_ vocabularySize: Int) -> Int {
    func powerOfTwo(atLeast n: Int) -> Int {
      var size = 16
      while size < n { size *= 2 }
      return size
    }
    let v = vocabularySize
    return v * 18 + powerOfTwo(atLeast: 2 * v) * 4 + powerOfTwo(atLeast: (4 * v + 2) / 3) * 16
  }
}

extension WeightPlan {
  /// The peak while loading (VmHWM of `edgetune plan` or `tokenize`, which only load the model): the runtime lines,
  /// plus two transients measured with SmolLM2's .nf4 (process at start 23.5 MB on Debian 12, 23.1 MB here):
  /// - the tokenizer.json text, 1.56 MB inside the .nf4 header's metadata. The header (2.1 MB) is walked with
  ///   `JSONReader`, the text decoded once into the metadata (+5.4–5.7 MiB VmHWM: header pages, strings and the
  ///   decoding buffer), then copied for the tokenizer, which walks the copy in place; the peak is at the end of
  ///   that walk, +9.3–9.7 MiB over 12 runs (VmHWM around `NF4ModelFile` + `BPETokenizer`), its 2.3 MiB of tables
  ///   included: 7.4 MiB above the tables (header pages 2.0, metadata strings 1.5, the copy 1.5, the loader's
  ///   arrays and allocator slack 2.4), ~159 B per vocabulary entry, planned as 170. (Parsing the header with JSONSerialization took +10.5–11.5
  ///   MiB at the header alone, +10.7–12.3 MiB with the tokenizer; that was planned as 230 B an entry.)
  /// - reading each quantized matrix's small parts (quant state, scales) faults in the file pages around them (the
  ///   kernel's fault-around, 64 KiB): +13.8 MB for 30 layers of 7 matrices on Debian 12 (kernel 6.1), planned as
  ///   64 KiB a matrix. (Kernel 6.18 maps only ~2 MiB here, so the plan is high there; kept for 6.1.)
  /// SmolLM2: 49.4 MiB planned. Measured with the JSONSerialization header: 48.4 MiB on Debian 12 (50.5–50.7 MB over
  /// 8 runs), 37.0–37.3 MB on kernel 6.18; with `JSONReader`, 34.4–35.0 MB on kernel 6.18 (2.4 MiB less, so ~46 MiB
  /// expected on Debian 12). The runtime line's 26 MiB holds ~3.6 MiB more than the process has at this point: that
  /// is the margin.
  public var loadPeakBytes: Int {
    let runtime = runtimeLines().reduce(0) { $0 + $1.bytes }
    let tokenizerText = vocabularySize * 170
    let faultAround = layerBytes.count * 7 * (64 << 10)
    return runtime + tokenizerText + faultAround
  }
}

extension MemoryPlan {
  /// Adds the headroom line: what the kernel counts beyond any plan (page rounding, allocator slack, stacks):
  /// 8% of the total, at least 6 MiB (measured misses of the other lines stay within 3%; streaming adds page-level
  /// effects such as the kernel's fault-around).
  public mutating func addHeadroom() {
    let base = steadyTotal
    let headroom = max(6 << 20, base * 8 / 92)  // 8% of the result
    lines.append(Line("headroom", headroom, .headroom, "page rounding, allocator slack, stacks"))
  }

  /// Picks the weight residency that fits `budget`: all resident if it fits, else streaming with as many resident
  /// layers as fit. `fixed` holds every line but the weights. When even streaming with no layer resident does not
  /// fit, returns that plan (it does not `fit`, and its choices say so).
  public static func fitting(
    fixed: [Line], weights: WeightPlan, budget: Int?, choices: [String] = []
  ) -> (plan: MemoryPlan, policy: WeightResidency.Policy) {
    func build(_ policy: WeightResidency.Policy) -> MemoryPlan {
      var plan = MemoryPlan(
        lines: weights.lines(policy) + fixed, choices: choices, budget: budget, loadPeak: weights.loadPeakBytes)
      plan.addHeadroom()
      return plan
    }
    var resident = build(.resident)
    let streamedNone = build(.streaming(residentLayers: 0))
    // Streaming is the leaner choice except for models whose layers are smaller than streaming's page windows.
    resident.leanestBudget = min(streamedNone.smallestBudget, resident.smallestBudget)
    guard let budget, !resident.fits else { return (resident, .resident) }
    guard streamedNone.fits else {
      var failed = streamedNone
      failed.leanestBudget = resident.leanestBudget
      failed.choices.append("weights streamed (none resident): still over budget")
      return (failed, .streaming(residentLayers: 0))
    }
    // Grow the resident layers while the plan fits.
    var k = 0
    while k < weights.layerBytes.count && build(.streaming(residentLayers: k + 1)).fits { k += 1 }
    var plan = build(.streaming(residentLayers: k))
    plan.leanestBudget = resident.leanestBudget
    plan.choices.append(
      "weights streamed: \(k) of \(weights.layerBytes.count) layers resident (all of them need "
        + "\(ByteCount.format(resident.total)) > budget \(ByteCount.format(budget)))")
    return (plan, .streaming(residentLayers: k))
  }

  /// The smallest budget at which this plan's total fits, headroom included.
  public var smallestBudget: Int {
    if let leanestBudget { return leanestBudget }
    let base = steadyTotal - bytes(of: .headroom)
    return max(base + (6 << 20), Int((Double(base) / 0.92).rounded(.up)), loadPeak)
  }
}
