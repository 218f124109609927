/// A run's memory, computed before anything large is allocated: one line per consumer, the choices made to fit the
/// budget, and the total the kernel's peak (VmHWM) is expected to reach.
///
/// Lines are of four kinds. `ledger` lines are buffers reserved in the `MemoryLedger` under the same label;
/// `weights` are mapped file pages the process holds; `runtime` is what neither accounts for (libraries, heap of
/// the tokenizer and the data); `headroom` is kept for what the kernel counts beyond any plan.
public struct MemoryPlan: Sendable, Equatable {
  public enum Kind: String, Sendable, Equatable { case ledger, weights, runtime, headroom }

  public struct Line: Sendable, Equatable {
    public var label: String
    public var bytes: Int
    public var kind: Kind
    public var note: String
    public init(_ label: String, _ bytes: Int, _ kind: Kind, _ note: String) {
      self.label = label
      self.bytes = bytes
      self.kind = kind
      self.note = note
    }

    /// Ledger lines from a buffer-size table (`plannedBytes` of a graph or session), in `order`, with notes.
    public static func ledger(_ bytes: [String: Int], order: [String], notes: [String: String]) -> [Line] {
      order.map { Line($0, bytes[$0, default: 0], .ledger, notes[$0] ?? "") }
    }
  }

  public var lines: [Line]
  /// What the planner chose to fit the budget ("weights streamed, 4 of 30 layers resident"), in order.
  public var choices: [String]
  public var budget: Int?
  /// A peak before the steady state, gone when it is reached (loading parses the tokenizer's JSON); 0 if none.
  public var loadPeak: Int
  /// The smallest budget that works for these options when the planner could choose a leaner configuration than this
  /// plan's (fewer resident layers); nil: computed from this plan's own lines.
  public var leanestBudget: Int?

  public init(lines: [Line], choices: [String] = [], budget: Int? = nil, loadPeak: Int = 0) {
    self.lines = lines
    self.choices = choices
    self.budget = budget
    self.loadPeak = loadPeak
  }

  /// The planned peak resident set: the steady state's lines, or the load peak if that is higher.
  public var total: Int { max(steadyTotal, loadPeak) }

  /// The sum of the lines: what the run holds while it works.
  public var steadyTotal: Int { lines.reduce(0) { $0 + $1.bytes } }

  public func bytes(of kind: Kind) -> Int { lines.filter { $0.kind == kind }.reduce(0) { $0 + $1.bytes } }

  public var fits: Bool { budget.map { total <= $0 } ?? true }

  /// The budget to give the ledger: what is left of the run's budget once everything else is set aside.
  public var ledgerBudget: Int? { budget.map { $0 - (steadyTotal - bytes(of: .ledger)) } }

  /// What the plan expects the kernel to count outside the ledger (weights and runtime, without the headroom).
  public var outsideLedger: Int { bytes(of: .weights) + bytes(of: .runtime) }

  /// A fixed-width table for terminals.
  public func table() -> String {
    let width = max("load (transient)".count, lines.map(\.label.count).max() ?? 0)
    func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
    func right(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
    var out = pad("consumer", width) + "  " + right("bytes", 10) + "  kind      note\n"
    for line in lines {
      out +=
        pad(line.label, width) + "  " + right(ByteCount.format(line.bytes), 10) + "  "
        + pad(line.kind.rawValue, 8) + "  " + line.note + "\n"
    }
    if loadPeak > 0 {
      out +=
        pad("load (transient)", width) + "  " + right(ByteCount.format(loadPeak), 10)
        + "  peak      while the model loads (header, tokenizer, quant states), before the run's buffers exist\n"
    }
    out += pad("total (peak)", width) + "  " + right(ByteCount.format(total), 10) + "\n"
    if let budget {
      out +=
        pad("budget", width) + "  " + right(ByteCount.format(budget), 10) + "  "
        + (fits ? "fits" : "does NOT fit (short by \(ByteCount.format(total - budget)))") + "\n"
    }
    for choice in choices { out += "chosen: " + choice + "\n" }
    return out
  }
}
