import Memory

/// What the timeline chart draws, worked out from a document's samples before any SVG is written: the samples in
/// time order (thinned out for very long runs), the ledger labels in stacking order with their colours, the phase
/// runs, and the scale.
struct Timeline {
  /// A stretch of time during which the phase stayed the same: one phase for a run of samples, several when runs too
  /// narrow to see on their own were merged into one band.
  struct PhaseRun: Equatable {
    var phases: [String]
    var start: Double
    var end: Double
  }

  /// Most points drawn per line: two per pixel column of the plot is all a screen can show.
  static let maxPoints = 2000
  /// The phase ribbon sits above the plot, between `ribbonTop` and the plot's top less 4.
  static let ribbonTop = 6.0

  /// Every sample with a finite time, in time order.
  let samples: [MemorySample]
  /// The samples drawn: all of them, or for long runs each stretch's highest RSS and ledger samples; at least two.
  let plotted: [MemorySample]
  /// Ledger labels, bottom of the stack first (largest mean first, so steady reservations sit low and stay flat).
  let labels: [String]
  let colors: [String: String]
  /// Consecutive samples with the same phase; the last run lasts to the right edge.
  let runs: [PhaseRun]
  let scale: ChartScale
  let budget: Int?
  let plannedPeak: Int

  /// Nil when no sample has a finite time.
  init?(_ document: ProfileDocument) {
    // `sorted(by:)` is stable, so samples taken at the same second keep their recorded order.
    let samples = document.samples.filter { $0.seconds.isFinite }.sorted { $0.seconds < $1.seconds }
    guard let first = samples.first, let last = samples.last else { return nil }
    let span = last.seconds - first.seconds
    // A run that starts a moment after zero is drawn from zero; a slice of a long run from its first sample.
    let start = first.seconds > 0 && first.seconds <= max(span, 1) * 0.2 ? 0 : first.seconds
    let end = span > 0 ? last.seconds : max(last.seconds, start) + 1
    var plotted = Self.thinned(samples, maxPoints: Self.maxPoints)
    if span <= 0 {
      // One instant: its levels are drawn flat across the axis.
      var later = last
      later.seconds = end
      plotted = [last, later]
    }
    var maxBytes = Double(max(document.budget ?? 0, document.plannedPeak))
    for sample in samples {
      maxBytes = max(maxBytes, Double(sample.rss), Double(sample.rssAnon), Double(sample.rssFile))
      maxBytes = max(maxBytes, Self.ledgerSum(sample))
    }
    self.samples = samples
    self.plotted = plotted
    self.labels = Self.stackOrder(samples)
    self.colors = ProfileHTML.ledgerColors(labels)
    self.scale = ChartScale(frame: .timeline, xAxis: .time(from: start, to: end), yAxis: .bytes(upTo: maxBytes))
    self.runs = Self.phaseRuns(samples, end: end)
    self.budget = document.budget
    self.plannedPeak = document.plannedPeak
  }

  /// The sum of a sample's ledger labels (negative entries count as zero), in `Double` so no sum can overflow.
  static func ledgerSum(_ sample: MemorySample) -> Double {
    sample.ledgerByLabel.values.reduce(0) { $0 + Double(max($1, 0)) }
  }

  /// Labels by mean bytes over all samples, largest first; ties by name.
  static func stackOrder(_ samples: [MemorySample]) -> [String] {
    var totals: [String: Double] = [:]
    for sample in samples {
      for (label, bytes) in sample.ledgerByLabel { totals[label, default: 0] += Double(max(bytes, 0)) }
    }
    return totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
  }

  /// Runs of consecutive samples with the same phase. A run lasts until the next run's first sample; the last one
  /// until `end`.
  static func phaseRuns(_ samples: [MemorySample], end: Double) -> [PhaseRun] {
    var runs: [PhaseRun] = []
    for sample in samples {
      if let last = runs.last, last.phases == [sample.phase] { continue }
      if !runs.isEmpty { runs[runs.count - 1].end = sample.seconds }
      runs.append(PhaseRun(phases: [sample.phase], start: sample.seconds, end: sample.seconds))
    }
    if !runs.isEmpty { runs[runs.count - 1].end = max(end, runs[runs.count - 1].start) }
    return runs
  }

  /// At most about `maxPoints` samples: the first, the last, and from each stretch the sample with the highest RSS
  /// and the one with the highest ledger total, so no peak is lost.
  static func thinned(_ samples: [MemorySample], maxPoints: Int) -> [MemorySample] {
    let rss = { Double(samples[$0].rss) }
    let ledger = { ledgerSum(samples[$0]) }
    return Thinning.indices(count: samples.count, maxPoints: maxPoints, peaks: [rss, ledger]).map { samples[$0] }
  }

  /// Consecutive runs narrower than `minWidth` user units merged into one band of several phases, so a long stretch
  /// of tiny steps shows as one mixed band instead of thousands of slivers. Wider runs keep their own band.
  func bands(minWidth: Double = 1.5) -> [PhaseRun] {
    var bands: [PhaseRun] = []
    for run in runs {
      let narrow = width(run) < minWidth
      if var last = bands.last, narrow, width(last) < minWidth || last.phases.count > 1 {
        last.end = run.end
        for phase in run.phases where !last.phases.contains(phase) { last.phases.append(phase) }
        bands[bands.count - 1] = last
      } else {
        bands.append(run)
      }
    }
    return bands
  }

  /// A run's width in user units.
  func width(_ run: PhaseRun) -> Double { scale.x(run.end) - scale.x(run.start) }
}
