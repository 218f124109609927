import ArgumentParser
import Memory
import Model

/// --budget, shared by every verb that runs: the process's peak resident set (VmHWM) may not exceed it.
struct BudgetOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Memory budget: the process's peak resident set (anonymous + mapped weight pages) stays below this.",
      discussion: "Sizes like 512MiB, 1.5GB, 300M. Without it, nothing is limited (the plan is still checked).",
      valueName: "size"))
  var budget: String?

  func validate() throws {
    if let budget, ByteCount.parse(budget) == nil {
      throw ValidationError("--budget \(budget) is not a size (examples: 512MiB, 1.5GB, 300M)")
    }
  }

  var bytes: Int? { budget.flatMap(ByteCount.parse) }
}

/// A run that cannot fit its budget, found before it starts (or a run stopped to stay within it).
struct BudgetError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

extension MemoryPlan {
  /// The lines for JSON reports.
  var linesJSON: [[String: Any]] {
    lines.map { ["label": $0.label, "bytes": $0.bytes, "kind": $0.kind.rawValue, "note": $0.note] }
  }

  /// Fails with the plan table and the smallest budget that would do, when the plan does not fit.
  func requireFits(what: String) throws {
    guard !fits, let budget else { return }
    Output.diagnostic(table())
    throw BudgetError(
      "\(what) needs about \(ByteCount.format(total)) but the budget is \(ByteCount.format(budget)); "
        + "the smallest budget that works for these options is \(ByteCount.format(smallestBudget)) "
        + "(or lower --seq-len / --rank, or fewer --targets)")
  }
}

extension BudgetOptions {
  /// Fails with the plan table when `fitted` does not fit the budget; otherwise applies its weight residency to
  /// `model`, says what was chosen, and returns the run's ledger (bounded by what the plan leaves for it).
  func apply(
    _ fitted: (plan: MemoryPlan, policy: WeightResidency.Policy), to model: LanguageModel, what: String
  ) throws -> MemoryLedger {
    try fitted.plan.requireFits(what: what)
    model.residency.policy = fitted.policy
    for choice in fitted.plan.choices { Output.diagnostic("plan: " + choice) }
    return MemoryLedger(budget: fitted.plan.ledgerBudget)
  }
}
