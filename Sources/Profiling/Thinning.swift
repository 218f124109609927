/// Which points of a long line to draw: a chart has about a thousand pixel columns, and a line of a hundred thousand
/// points would only make the page heavy. Keeps every peak, so thinning never hides a maximum (or minimum).
enum Thinning {
  /// All of `0..<count` when it is at most `maxPoints`; otherwise the first and last index and, from each of
  /// `maxPoints / peaks.count - 1` equal stretches, the index where each of `peaks` is highest, in order.
  static func indices(count: Int, maxPoints: Int, peaks: [(Int) -> Double]) -> [Int] {
    guard count > maxPoints, maxPoints >= 2 * max(peaks.count, 1) else { return Array(0..<count) }
    let stretches = maxPoints / max(peaks.count, 1) - 1
    var keep: [Int] = [0]
    for stretch in 0..<stretches {
      let range = (stretch * count / stretches)..<((stretch + 1) * count / stretches)
      guard !range.isEmpty else { continue }
      let picks = peaks.map { peak in range.max { peak($0) < peak($1) } ?? range.lowerBound }.sorted()
      for index in picks where index != keep.last { keep.append(index) }
    }
    if keep.last != count - 1 { keep.append(count - 1) }
    return keep
  }
}
