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

  // A test hook: memory the plan and the watchdog never hear of (`touchUntrackedPages`), touched after the command's
  // work, so that only the kernel's VmHWM sees it; tests prove the end-of-run check of every verb with it.
  @Option(help: .hidden)
  var untrackedAllocation: String?

  var untrackedAllocationBytes: Int { untrackedAllocation.flatMap(ByteCount.parse) ?? 0 }

  func validate() throws {
    if let budget, ByteCount.parse(budget) == nil {
      throw ValidationError("--budget \(budget) is not a size (examples: 512MiB, 1.5GB, 300M)")
    }
  }

  var bytes: Int? { budget.flatMap(ByteCount.parse) }
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

extension BudgetOptions {
  /// The budget's last word, after the command's result is out: the kernel's peak resident set (VmHWM, the true
  /// high-water mark of anonymous and mapped pages together, not a sample) against --budget; above it, the command
  /// exits non-zero saying by how much. Training has its own (the run report records it).
  func requireKept() throws {
    if untrackedAllocationBytes > 0 { touchUntrackedPages(bytes: untrackedAllocationBytes) }
    guard let bytes, let peak = try? ProcStatus.current().vmHWM, peak > bytes else { return }
    throw BudgetError.crossed(peak: peak, budget: bytes)
  }
}
