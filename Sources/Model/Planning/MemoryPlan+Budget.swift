public import Memory

extension MemoryPlan {
  /// Throws `BudgetError.doesNotFit` (with the plan table and the smallest budget that would do) when the plan does
  /// not fit its budget.
  /// Without a budget, throws `BudgetError.exceedsMachine` when even the leanest configuration needs more than the
  /// machine's RAM and swap (an absurd batch or sequence length), so the run is refused instead of aborting on an
  /// allocation after it started.
  /// `withTable: false` leaves the table out of the error (for a caller that has printed it already).
  public func requireFits(what: String, withTable: Bool = true) throws(BudgetError) {
    let table = withTable ? table() : ""
    if let budget {
      guard !fits else { return }
      throw .doesNotFit(what: what, planned: total, budget: budget, smallest: smallestBudget, table: table)
    }
    if let machine = MachineMemory.totalBytes, smallestBudget > machine {
      throw .exceedsMachine(what: what, smallest: smallestBudget, machine: machine, table: table)
    }
  }
}
