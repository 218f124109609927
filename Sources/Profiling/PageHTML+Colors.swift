/// Colours both pages use: a palette for named things (ledger labels, a run's curves) and the colours of the lines
/// that mean the same on both (the kernel's RSS, the budget, the planned peak).
extension PageHTML {
  /// Tableau 10, distinguishable for most colour-blind readers and on a pale background.
  static var palette: [String] {
    ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
  }

  static var rssColor: String { "#111111" }
  static var anonColor: String { "#6a1b9a" }
  static var fileColor: String { "#00796b" }
  static var budgetColor: String { "#c62828" }
  static var plannedColor: String { "#1e4f91" }
}
