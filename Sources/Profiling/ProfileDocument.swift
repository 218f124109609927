public import Memory

/// Everything a memory profile shows, as data: the plan made before the run, the kernel's and the ledger's figures
/// sampled during it, the peaks per phase and the verdict. `edgetune profile` fills it; the JSON report, the HTML page
/// (`ProfileHTML`) and the CSV (`ProfileCSV`) are three renderings of it.
public struct ProfileDocument: Codable, Sendable {
  /// One line of the memory plan: what it is for, its planned bytes, and how it was computed or chosen; `kind` says
  /// what the bytes are (ledger, weights, runtime, ...) where the plan knows.
  public struct PlanLine: Codable, Sendable, Equatable {
    public var label: String
    public var bytes: Int
    public var note: String
    public var kind: String?
    public init(label: String, bytes: Int, note: String, kind: String? = nil) {
      self.label = label
      self.bytes = bytes
      self.note = note
      self.kind = kind
    }
  }

  /// Highest figures seen while a phase was current.
  public struct PhasePeak: Codable, Sendable, Equatable {
    public var phase: String
    public var seconds: Double
    public var peakRSS: Int
    public var peakAnon: Int
    public var peakFile: Int
    public var peakLedger: Int
    public init(phase: String, seconds: Double, peakRSS: Int, peakAnon: Int, peakFile: Int, peakLedger: Int) {
      self.phase = phase
      self.seconds = seconds
      self.peakRSS = peakRSS
      self.peakAnon = peakAnon
      self.peakFile = peakFile
      self.peakLedger = peakLedger
    }
  }

  public var title: String
  /// The command line that was profiled.
  public var command: String
  public var budget: Int?
  public var plan: [PlanLine]
  public var plannedPeak: Int
  /// The kernel's VmHWM at the end of the run.
  public var measuredPeak: Int
  public var samples: [MemorySample]
  public var phases: [PhasePeak]
  /// One or two sentences: does it fit, and what is the largest consumer.
  public var verdict: String
  /// Free-form figures worth showing (steps, tokens/s, wall time...), in display order.
  public var figures: [PlanLine]

  public init(
    title: String, command: String, budget: Int?, plan: [PlanLine], plannedPeak: Int, measuredPeak: Int,
    samples: [MemorySample], phases: [PhasePeak], verdict: String, figures: [PlanLine] = []
  ) {
    self.title = title
    self.command = command
    self.budget = budget
    self.plan = plan
    self.plannedPeak = plannedPeak
    self.measuredPeak = measuredPeak
    self.samples = samples
    self.phases = phases
    self.verdict = verdict
    self.figures = figures
  }
}
