public import Memory
public import Model

/// The budget entered once: the plan is checked against it (a run that cannot fit fails here, before any training
/// buffer exists), its weight residency applied to the model, the run's ledger bounded by what the plan leaves for
/// it, and the watchdog armed to relieve memory, stop the run in time, and keep the samples. At the end of the run
/// `finalCheck` compares the kernel's peak with the budget.
public final class BudgetedSetup {
  public let planned: TrainingPlan.Result
  public let budget: Int?
  public let ledger: MemoryLedger
  public let watchdog: MemoryWatchdog

  /// - Parameters:
  ///   - what: the run, for the error ("this training run needs about …").
  ///   - stopAtFraction: the share of the budget at which the watchdog relieves memory, then stops the run.
  public init(
    model: LanguageModel, planned: TrainingPlan.Result, budget: Int?, what: String, stopAtFraction: Double = 0.97,
    interval: Duration = .milliseconds(100), keepSamples: Bool = false
  ) throws(BudgetError) {
    try planned.plan.requireFits(what: what)
    model.residency.policy = planned.residency
    self.planned = planned
    self.budget = budget
    ledger = MemoryLedger(budget: planned.plan.ledgerBudget)
    watchdog = MemoryWatchdog(
      ledger: ledger, budget: budget, plannedOutsideLedger: planned.plan.outsideLedger, interval: interval,
      keepSamples: keepSamples, pressureFraction: stopAtFraction,
      relieve: { [model] in
        model.dropAllWeightPages()
        MallocTuning.trim()
      })
  }

  /// The kernel's counts now, its peak resident set (VmHWM), and whether that peak is above the budget.
  public func finalCheck() -> (status: ProcStatus?, peak: Int, crossed: Bool) {
    watchdog.sample()
    let status = try? ProcStatus.current()
    let peak = status?.vmHWM ?? watchdog.peakRSS
    return (status, peak, budget.map { peak > $0 } ?? false)
  }

  /// The plan and the watchdog's findings, for reports.
  public func report() -> PlanReport {
    let plan = planned.plan
    return PlanReport(
      budgetBytes: budget, plannedPeakBytes: plan.total, plan: plan.lines.map(PlanLineReport.init),
      planChoices: plan.choices, weightsStreamed: planned.residency != .resident,
      gradientCheckpointing: planned.checkpointing, kernelAbovePlanMaxBytes: watchdog.maxDrift,
      kernelAbovePlanMarginBytes: watchdog.driftMargin, kernelAbovePlanExceeded: watchdog.driftExceeded,
      budgetReliefs: watchdog.reliefs)
  }
}
