import Memory
import Profiling

/// Profiles made up for the renderer tests: a realistic short LoRA run, and the edge cases the page must survive.
enum SyntheticProfile {
  static let mib = 1 << 20

  /// A LoRA run of 310 samples, 0.2 s apart: load, ten steps of forward / backward / optimizer, an eval after
  /// steps 5 and 10, and a save. RSS about 150 MiB (RssAnon about 60, RssFile about 90) under a 192 MiB budget.
  static func loraRun() -> ProfileDocument {
    var builder = Builder()
    builder.load(samples: 25)
    for step in 1...10 {
      builder.trainingStep()
      if step % 5 == 0 { builder.eval(samples: 25) }
    }
    builder.save(samples: 15)
    let samples = builder.samples
    let plan: [ProfileDocument.PlanLine] = [
      .init(label: "weights", bytes: 84 * mib, note: "NF4 model file, mapped (file-backed, reclaimable)"),
      .init(label: "lora", bytes: 3 * mib, note: "rank 8 on q, v: 30 layers"),
      .init(label: "optimizer-state", bytes: 6 * mib, note: "AdamW m and v for the LoRA weights"),
      .init(label: "checkpoints", bytes: 16 * mib, note: "one activation checkpoint per layer, batch 1 x 256"),
      .init(label: "activations", bytes: 10 * mib, note: "one layer recomputed at a time"),
      .init(label: "logits", bytes: 12 * mib, note: "256 positions x 49152 vocabulary, float32"),
      .init(label: "gradients", bytes: 5 * mib, note: "LoRA gradients"),
      .init(label: "scratch", bytes: 4 * mib, note: "GEMM tiles"),
      .init(label: "runtime", bytes: 20 * mib, note: "binary, libraries, malloc arenas"),
    ]
    let measured = samples.map(\.hwm).max() ?? 0
    return ProfileDocument(
      title: "LoRA on SmolLM2-135M", command: "edgetune profile train lora --model smollm2.nf4 --budget 192MiB",
      budget: 192 * mib, plan: plan, plannedPeak: 160 * mib, measuredPeak: measured, samples: samples,
      phases: phasePeaks(samples),
      verdict: "Fits: the measured peak of \(measured / mib) MiB is within the 192 MiB budget; the largest consumer "
        + "is weights (84 MiB, file-backed and reclaimable).",
      figures: [
        .init(label: "steps", bytes: 0, note: "10"), .init(label: "tokens/s", bytes: 0, note: "412"),
        .init(label: "peak ledger", bytes: samples.map(\.ledger).max() ?? 0, note: "sum of reservations"),
      ])
  }

  /// `document` with other samples, phases recomputed.
  static func with(_ samples: [MemorySample], budget: Int? = 192 * mib) -> ProfileDocument {
    var document = loraRun()
    document.samples = samples
    document.phases = phasePeaks(samples)
    document.budget = budget
    return document
  }

  /// A sample whose ledger total is the sum of `ledger`.
  static func sample(_ seconds: Double, _ phase: String, rss: Int, anon: Int, file: Int, ledger: [String: Int])
    -> MemorySample
  {
    MemorySample(
      seconds: seconds, phase: phase, rss: rss, rssAnon: anon, rssFile: file, hwm: rss,
      ledger: ledger.values.reduce(0, +), ledgerByLabel: ledger)
  }

  /// The highest figures per phase, in order of first appearance; `seconds` is the time spent in the phase.
  static func phasePeaks(_ samples: [MemorySample]) -> [ProfileDocument.PhasePeak] {
    var peaks: [ProfileDocument.PhasePeak] = []
    for (index, sample) in samples.enumerated() {
      let duration = index + 1 < samples.count ? samples[index + 1].seconds - sample.seconds : 0
      if let at = peaks.firstIndex(where: { $0.phase == sample.phase }) {
        peaks[at].seconds += duration
        peaks[at].peakRSS = max(peaks[at].peakRSS, sample.rss)
        peaks[at].peakAnon = max(peaks[at].peakAnon, sample.rssAnon)
        peaks[at].peakFile = max(peaks[at].peakFile, sample.rssFile)
        peaks[at].peakLedger = max(peaks[at].peakLedger, sample.ledger)
      } else {
        peaks.append(
          .init(
            phase: sample.phase, seconds: duration, peakRSS: sample.rss, peakAnon: sample.rssAnon,
            peakFile: sample.rssFile, peakLedger: sample.ledger))
      }
    }
    return peaks
  }

  /// Appends samples phase by phase, deriving the kernel's figures from the ledger like a real run would show them.
  struct Builder {
    var samples: [MemorySample] = []
    var ledger: [String: Int] = [:]
    var seed: UInt64 = 0x9e37_79b9_7f4a_7c15
    var hwm = 0

    mutating func load(samples count: Int) {
      for index in 0..<count {
        ledger["weights"] = 84 * mib * (index + 1) / count
        if index == count - 1 { ledger["lora"] = 3 * mib }
        append("load")
      }
    }

    mutating func trainingStep() {
      ledger["scratch"] = 4 * mib
      for index in 0..<8 {
        ledger["checkpoints"] = 16 * mib * (index + 1) / 8
        ledger["activations"] = 6 * mib
        if index >= 6 { ledger["logits"] = 12 * mib }
        append("forward")
      }
      for index in 0..<10 {
        ledger["checkpoints"] = 16 * mib * (9 - index) / 10
        ledger["activations"] = 10 * mib
        ledger["gradients"] = 5 * mib * (index + 1) / 10
        if index == 3 { ledger["logits"] = 0 }
        append("backward")
      }
      ledger["activations"] = 0
      ledger["scratch"] = 2 * mib
      ledger["optimizer-state"] = 6 * mib
      for _ in 0..<4 { append("optimizer") }
      ledger["gradients"] = 0
    }

    mutating func eval(samples count: Int) {
      ledger["scratch"] = 4 * mib
      for index in 0..<count {
        ledger["activations"] = 4 * mib
        ledger["logits"] = index % 5 >= 3 ? 12 * mib : 0
        append("eval")
      }
      ledger["activations"] = 0
      ledger["logits"] = 0
    }

    mutating func save(samples count: Int) {
      ledger["scratch"] = 0
      for index in 0..<count {
        ledger["scratch"] = index < count - 2 ? 3 * mib : 0
        append("save")
      }
    }

    /// Kernel figures: 6 MiB of binary plus the touched weights file-backed; 12 MiB base plus 95 % of the other
    /// reservations anonymous (glibc keeps a little), with up to 1 MiB of jitter.
    mutating func append(_ phase: String) {
      let weights = ledger["weights"] ?? 0
      let others = ledger.filter { $0.key != "weights" }.values.reduce(0, +)
      let file = 6 * mib + weights
      let anon = 12 * mib + others * 95 / 100 + Int(nextRandom() % UInt64(mib))
      hwm = max(hwm, anon + file)
      samples.append(
        MemorySample(
          seconds: Double(samples.count) * 0.2, phase: phase, rss: anon + file, rssAnon: anon, rssFile: file,
          hwm: hwm, ledger: ledger.values.reduce(0, +), ledgerByLabel: ledger.filter { $0.value > 0 }))
    }

    /// SplitMix64, so the jitter is the same every run.
    mutating func nextRandom() -> UInt64 {
      seed &+= 0x9e37_79b9_7f4a_7c15
      var z = seed
      z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
      z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
      return z ^ (z >> 31)
    }
  }
}
