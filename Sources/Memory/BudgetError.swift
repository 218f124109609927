/// A run held to a memory budget that cannot start within it, had to stop to stay within it, or crossed it: the
/// budget's three ways to end a run, each saying by how much and what to do.
public enum BudgetError: Error, CustomStringConvertible, Equatable {
  /// The plan needs more than the budget, found before anything was loaded beyond the model's header. `table` is the
  /// plan, printed with the message so the user sees where the memory goes.
  case doesNotFit(what: String, planned: Int, budget: Int, smallest: Int, table: String)
  /// Without a budget: even the leanest configuration of the plan needs more than the machine's RAM and swap.
  case exceedsMachine(what: String, smallest: Int, machine: Int, table: String)
  /// The watchdog saw the resident set near the budget even after relief, so the run saved a checkpoint and stopped.
  case stopped(step: Int, budget: Int, fraction: Double, checkpoint: String, planned: Int)
  /// The kernel's peak resident set (VmHWM) ended above the budget: the run finished but did not keep its promise.
  case crossed(peak: Int, budget: Int)

  public var description: String {
    switch self {
    case .doesNotFit(let what, let planned, let budget, let smallest, let table):
      table + (table.hasSuffix("\n") || table.isEmpty ? "" : "\n")
        + "\(what) needs about \(ByteCount.format(planned)) but the budget is \(ByteCount.format(budget)); "
        + "the smallest budget that works for these options is \(ByteCount.format(smallest)) "
        + "(or lower the sequence length or the rank, or target fewer projections)"
    case .exceedsMachine(let what, let smallest, let machine, let table):
      table + (table.hasSuffix("\n") || table.isEmpty ? "" : "\n")
        + "\(what) needs at least \(ByteCount.format(smallest)), more than this machine's memory "
        + "(\(ByteCount.format(machine)) of RAM and swap); lower the batch size, the sequence length or the gradient "
        + "accumulation"
    case .stopped(let step, let budget, let fraction, let checkpoint, let planned):
      "stopped after step \(step) to stay within the budget of \(ByteCount.format(budget)): "
        + "RSS reached \(Int(fraction * 100))% of it even after dropping weight pages. "
        + "Checkpoint saved to \(checkpoint); continue with --resume \(checkpoint) and a larger --budget "
        + "(the plan expected \(ByteCount.format(planned)))."
    case .crossed(let peak, let budget):
      "the run's peak resident set (VmHWM \(ByteCount.format(peak))) crossed its budget of "
        + "\(ByteCount.format(budget)) by \(ByteCount.format(peak - budget)): memory outside the plan's account "
        + "(another allocation in this process) grew past it; the result was written, but rerun with a larger "
        + "--budget (training: or a lower --stop-at) to keep the promise"
    }
  }
}
