import Formats
import Foundation
import Memory
import Model
import Tensor
import Training

/// A reward model on its base, ready to score: the model loaded, the memory planned against the budget (a forward
/// graph of one preference pair's row, the reward model's tensors), the reward model read and checked against the
/// base (hidden size, tokenizer). Shared by `eval --reward` and `score`.
struct RewardSession {
  let model: LanguageModel
  let reward: RewardModel
  let graph: TrainingGraph
  let ledger: MemoryLedger
  /// Renders prompt + completion the way the reward model saw its training data.
  let encoder: ExampleEncoder

  /// - Parameter rowTokens: the graph's row capacity (two sequences of up to --seq-len for pairs).
  /// - Parameter rawPairs: plain string pairs as raw text instead of through the chat template (`DataOptions`).
  init(
    model path: String, reward directory: String, rowTokens: Int, seqLen: Int, rawPairs: Bool, budget: BudgetOptions,
    dataPath: String?
  )
    throws
  {
    let lm = try ModelLoader.load(path: path)
    let config = try LoRAAdapterSet.config(in: directory)
    let capacity = min(rowTokens, lm.config.contextLength)
    let graphBytes = TrainingGraph.plannedBytes(
      config: lm.config, capacity: capacity, rank: config.rank, logitRows: 1, workers: Threading.workers)
    let weights = WeightPlan(model: lm)
    let order = graphBytes.keys.sorted()
    let rewardBytes = 2 * fileSize(atPath: (directory as NSString).appendingPathComponent("adapter_model.safetensors"))
    let fixed =
      MemoryPlan.Line.ledger(
        graphBytes, order: order, notes: Dictionary(uniqueKeysWithValues: order.map { ($0, "scoring pass") }))
      + [MemoryPlan.Line("reward-model", rewardBytes, .ledger, "the reward model's LoRA and score head")]
      + weights.runtimeLines(extra: [
        MemoryPlan.Line("data", 2 * (dataPath.map { fileSize(atPath: $0) } ?? 0), .runtime, "tokenized pairs")
      ])
    ledger = try budget.apply(
      MemoryPlan.fitting(fixed: fixed, weights: weights, budget: budget.bytes), to: lm, what: "reward scoring")
    reward = try RewardModel.load(
      from: directory, model: lm.config, tokenizer: lm.tokenizer.fingerprint, ledger: ledger)
    graph = try TrainingGraph(
      model: lm, capacity: capacity, maximumRank: config.rank, logitRows: 1, ledger: ledger)
    encoder = ExampleEncoder(model: lm, options: DataOptions(seqLen: seqLen, rawPairs: rawPairs))
    model = lm
  }
}
