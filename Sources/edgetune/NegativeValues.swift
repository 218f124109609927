/// `--lr -1`: swift-argument-parser reads a word that starts with "-" as an option, so a negative number after a
/// space reached the user as "Missing value for '--lr'" instead of the option's own check ("--lr must be positive").
/// Joining such a number to the long option before it (`--lr=-1`) lets the parser hand it to the option, and the
/// option's validation speaks. Only numbers are joined: a word like `-m` after an option stays an option.
enum NegativeValues {
  /// `arguments` with every negative number that follows a long option without a value written as `--option=value`.
  static func attached(_ arguments: [String]) -> [String] {
    var out: [String] = []
    for argument in arguments {
      if isNegativeNumber(argument), let last = out.last, last.hasPrefix("--"), last.count > 2, !last.contains("=") {
        out[out.count - 1] = last + "=" + argument
      } else {
        out.append(argument)
      }
    }
    return out
  }

  /// "-1", "-0.5", "-1e30", "-.5", "-inf", "-nan": what Swift's numeric parsing would read as a negative number.
  static func isNegativeNumber(_ word: String) -> Bool {
    guard word.hasPrefix("-"), word.count > 1 else { return false }
    return Double(word) != nil
  }
}
