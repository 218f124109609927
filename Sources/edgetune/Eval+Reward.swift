import Foundation
import Memory
import Model
import Training

extension Eval {
  /// --reward RM --data pairs.jsonl: the reward model's pairwise accuracy and mean margin on held-out pairs.
  func evaluateReward(_ directory: String, data path: String) throws {
    let session = try RewardSession(
      model: model.model, reward: directory, rowTokens: 2 * seqLen, seqLen: seqLen, rawPairs: rawPairs, budget: budget,
      dataPath: path)
    var pairs = try PreferenceDataset.load(path: path, encoder: session.encoder)
    Output.diagnostic("data \(path): \(pairs.report.summary)")
    if let limit, pairs.count > limit { pairs = pairs.subset(Array(0..<max(0, limit))) }
    let start = ContinuousClock.now
    let bar = ProgressBar("eval", total: pairs.count)
    let figures = try RewardObjective.evaluate(pairs, reward: session.reward, graph: session.graph) { bar.update($0) }
    bar.finish()
    let seconds = (ContinuousClock.now - start).seconds
    if json {
      let result = RewardResult(
        accuracy: figures.accuracy, pairs: figures.pairs, correct: figures.correct, meanMargin: figures.meanMargin,
        meanLoss: figures.figures["loss"]!, meanChosen: figures.figures["chosen"]!,
        meanRejected: figures.figures["rejected"]!, seconds: seconds)
      try Output.json(CommandReport(result, memory: MemoryFigures(ledger: session.ledger)))
    } else {
      Output.result(
        String(
          format: "pairwise accuracy %.1f%% (%d of %d), mean margin %.4f, mean loss %.4f", 100 * figures.accuracy,
          figures.correct, figures.pairs, figures.meanMargin, figures.figures["loss"]!))
    }
    Output.diagnostic(
      String(format: "%.1f s; ", seconds) + Output.memoryLine() + "; " + session.ledger.peakLine())
  }
}
