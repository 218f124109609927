public import Memory

extension MemoryPlan {
  /// Throws `BudgetError.doesNotFit` (with the plan table and the smallest budget that would do) when the plan does
  /// not fit its budget.
  public func requireFits(what: String) throws(BudgetError) {
    guard !fits, let budget else { return }
    throw .doesNotFit(what: what, planned: total, budget: budget, smallest: smallestBudget, table: table())
  }
}
