/// Everything a fine-tuning run's page shows, as plain values: the caller fills it from the run's report (Training's
/// `FineTuneReport`, which this module does not depend on) and `RunReportHTML` renders it.
public struct RunReportDocument: Sendable {
  /// A point of a curve: the optimizer step and the value there.
  public struct Point: Sendable, Equatable {
    public var x: Double
    public var y: Double
    public init(x: Double, y: Double) {
      self.x = x
      self.y = y
    }
  }

  /// A named curve. With `markers` each point is drawn as a dot too (sparse figures such as held-out evaluations,
  /// which a line alone would hide); a curve of one point is always drawn as a dot.
  public struct Series: Sendable {
    public var name: String
    public var points: [Point]
    public var markers: Bool
    public init(name: String, points: [Point], markers: Bool = false) {
      self.name = name
      self.points = points
      self.markers = markers
    }
  }

  /// A horizontal line across a chart: the budget and the planned peak over memory, a run's mean over a per-step
  /// figure.
  public struct Reference: Sendable {
    public enum Role: Sendable { case budget, plannedPeak, mean }
    public var role: Role
    public var value: Double
    public init(_ role: Role, value: Double) {
      self.role = role
      self.value = value
    }
  }

  /// What a chart's values are: byte counts (power-of-two ticks from zero, "64 MiB") or plain numbers.
  public enum Unit: Sendable { case bytes, number }

  /// One chart, steps along the bottom. `empty` is said instead of the chart when no series has a finite point.
  public struct Chart: Sendable {
    /// The section's id ("loss"), unique on the page.
    public var id: String
    public var title: String
    public var caption: String
    public var valueTitle: String
    public var unit: Unit
    public var series: [Series]
    public var references: [Reference]
    public var empty: String
    public init(
      id: String, title: String, caption: String, valueTitle: String, unit: Unit = .number, series: [Series],
      references: [Reference] = [], empty: String
    ) {
      self.id = id
      self.title = title
      self.caption = caption
      self.valueTitle = valueTitle
      self.unit = unit
      self.series = series
      self.references = references
      self.empty = empty
    }
  }

  /// A figure of the summary grid.
  public struct Card: Sendable, Equatable {
    public var term: String
    public var value: String
    public var note: String
    public init(_ term: String, _ value: String, note: String) {
      self.term = term
      self.value = value
      self.note = note
    }
  }

  public var title: String
  /// A line under the title: which model was tuned into which result.
  public var subtitle: String
  /// One or two sentences: did the run finish, and within its budget.
  public var verdict: String
  /// The run broke a promise (its peak crossed the budget): the verdict is shown as a warning.
  public var alarming: Bool
  /// Short flags shown beside the verdict ("stopped early", "budget crossed").
  public var flags: [String]
  public var cards: [Card]
  public var charts: [Chart]
  public var plan: [ProfileDocument.PlanLine]
  public var plannedPeak: Int
  /// Settings and figures, in display order (as `ProfileDocument.figures`: `bytes` 0 for a figure that is no size).
  public var figures: [ProfileDocument.PlanLine]

  public init(
    title: String, subtitle: String, verdict: String, alarming: Bool, flags: [String], cards: [Card],
    charts: [Chart], plan: [ProfileDocument.PlanLine], plannedPeak: Int, figures: [ProfileDocument.PlanLine]
  ) {
    self.title = title
    self.subtitle = subtitle
    self.verdict = verdict
    self.alarming = alarming
    self.flags = flags
    self.cards = cards
    self.charts = charts
    self.plan = plan
    self.plannedPeak = plannedPeak
    self.figures = figures
  }
}
