import Foundation
public import Memory
public import Model

/// PPO of a `ValueHeadPolicy` against a `RewardModel`, every role on one mapped base and one training graph: the
/// policy is the base with the policy's LoRA, the reference the base with it off, the reward model the base with
/// its own LoRA and score head, the value model the policy's value head.
///
/// A PPO batch: sample `rollouts` answers with the KV cache (temperature, up to `maxNewTokens`, stopping at the end
/// of the turn); one forward each for the policy's log-probabilities, entropies and values, the reference's
/// log-probabilities and the reward model's score of the answer rendered as a chat turn; per-token rewards
/// −β·(log π − log π_ref) plus the score on the last token; GAE; advantages whitened over the batch. Then `epochs`
/// passes over the batch in minibatches, each an optimizer step on the clipped policy loss plus vf_coef × the
/// clipped value loss, averaged over the minibatch's answer tokens. The trainer calls `accumulateStep` once per
/// optimizer step; a new batch is sampled when the last one's minibatches are used up.
public final class PPOObjective: TrainingObjective {
  public let prompts: PromptSet
  public let validation: PromptSet?
  public let reward: RewardModel
  public let options: PPOOptions
  let model: LanguageModel
  let encoder: ExampleEncoder
  let capacity: Int
  let ledger: MemoryLedger
  var schedule: PairSchedule
  private var session: InferenceSession?
  /// The current PPO batch (rollouts with their advantages and returns).
  private(set) var batch: [Rollout] = []
  private var queue: [[Int]] = []
  private var batchIndex = 0
  private var batchFigures: [String: Double] = [:]
  /// Per PPO batch: mean score, KL, entropy, answer length, stop rate (for the report).
  public private(set) var history: [[String: Double]] = []
  /// Prompts of each evaluation (sampled with a fixed seed, so evaluations compare).
  public var evaluationLimit = 32

  public init(
    prompts: PromptSet, validation: PromptSet?, reward: RewardModel, model: LanguageModel, encoder: ExampleEncoder,
    capacity: Int, options: PPOOptions, ledger: MemoryLedger
  ) throws {
    try options.validate()
    self.prompts = prompts
    self.validation = validation
    self.reward = reward
    self.model = model
    self.encoder = encoder
    self.capacity = capacity
    self.options = options
    self.ledger = ledger
    self.schedule = PairSchedule(count: prompts.count, seed: options.seed)
  }

  static func policy(_ method: any TrainableMethod) throws -> ValueHeadPolicy {
    guard let policy = method as? ValueHeadPolicy else {
      throw TrainingError.invalidOption(name: "method", reason: "PPO trains a policy with a value head")
    }
    return policy
  }

  // MARK: rollouts

  /// Samples an answer to `prompt` with the policy and scores it: everything but the advantages.
  func rollout(
    _ prompt: PromptSet.Prompt, policy: ValueHeadPolicy, graph: TrainingGraph, seed: UInt64, withValues: Bool = true
  ) throws -> Rollout {
    if session == nil {
      session = try InferenceSession(model: model, capacity: capacity, chunk: 128, adapter: policy.lora, ledger: ledger)
    }
    let session = session!
    session.adapter = policy.lora
    session.reset()
    let stops = model.stopTokenIDs
    var generator = TextGenerator(
      session: session, sampler: Sampler(temperature: options.temperature, seed: seed), stopTokens: stops)
    let budget = min(options.maxNewTokens, capacity - prompt.tokens.count)
    RunPhase.enter(.forward)
    let answer = try generator.generate(prompt: prompt.tokens, maxTokens: budget).tokens
    let stopped = answer.last.map(stops.contains) ?? false
    let p = prompt.tokens.count
    let tokens = prompt.tokens + answer
    var targets = [Int32](repeating: -1, count: tokens.count)
    let positions = Array((p - 1)..<(p - 1 + answer.count))
    for (k, position) in positions.enumerated() { targets[position] = answer[k] }
    let row = TrainingGraph.Row(tokens: tokens, targets: targets)
    let request = HeadRequest(
      logProbabilities: true, entropies: true, scalarHead: withValues ? policy.valueHead : nil,
      scalarPositions: withValues ? positions : [], temperature: options.temperature)
    let current = try graph.evaluate(row, method: policy, request: request)
    let reference = try graph.evaluate(
      row, method: nil, request: HeadRequest(logProbabilities: true, temperature: options.temperature))
    // The reward model scores the answer as it saw its training data: prompt and answer rendered as a chat turn.
    let text = model.tokenizer.decode(stopped ? Array(answer.dropLast()) : answer)
    let scored = try encoder.encode(
      .conversationalPromptCompletion(
        prompt: prompt.messages, completion: [ChatMessage(role: "assistant", content: text)]))
    var score = try reward.score(Array(scored.tokens.prefix(capacity)), graph: graph)
    if !stopped { score -= options.missingEOSPenalty }
    return Rollout(
      row: row, positions: positions, answer: answer, stopped: stopped,
      oldLogProbabilities: positions.map { Double(current.logProbabilities[$0]) },
      referenceLogProbabilities: positions.map { Double(reference.logProbabilities[$0]) },
      oldValues: current.scalars.map(Double.init), entropies: positions.map { Double(current.entropies[$0]) },
      score: score)
  }

  /// Samples the next batch and begins it.
  func sampleBatch(policy: ValueHeadPolicy, graph: TrainingGraph) throws {
    var rollouts: [Rollout] = []
    for i in 0..<options.rollouts {
      let prompt = prompts[schedule.next()]
      rollouts.append(
        try rollout(prompt, policy: policy, graph: graph, seed: Self.seed(options.seed, batchIndex, i)))
    }
    begin(rollouts)
  }

  /// Makes `rollouts` the current batch: their advantages and returns, and its minibatches queued for every epoch
  /// (shuffled per epoch by the run's seed and the batch index).
  func begin(_ rollouts: [Rollout]) {
    batch = rollouts
    Self.computeAdvantages(&batch, options: options)
    var random = DataRandom(seed: options.seed, stream: [0x5050_4F, UInt64(batchIndex)])
    queue = []
    for _ in 0..<options.epochs {
      var order = Array(batch.indices)
      random.shuffle(&order)
      for start in stride(from: 0, to: order.count, by: options.miniBatch) {
        queue.append(Array(order[start..<min(order.count, start + options.miniBatch)]))
      }
    }
    batchFigures = Self.figures(batch, klCoefficient: options.klCoefficient)
    history.append(batchFigures)
    batchIndex += 1
  }

  /// Each rollout's returns and advantages from its per-token rewards (KL penalty plus the score at the end) by GAE,
  /// the advantages then whitened over the whole batch.
  static func computeAdvantages(_ batch: inout [Rollout], options: PPOOptions) {
    var advantages: [[Double]] = []
    for i in batch.indices {
      let (a, r) = PPOMath.advantages(
        rewards: batch[i].rewards(klCoefficient: options.klCoefficient), values: batch[i].oldValues,
        gamma: options.gamma, lambda: options.lambda)
      advantages.append(a)
      batch[i].returns = r
    }
    for (i, whitened) in PPOMath.whiten(advantages).enumerated() { batch[i].advantages = whitened }
  }

  /// A rollout's sampling seed from the run's seed, the batch and the rollout.
  static func seed(_ seed: UInt64, _ batch: Int, _ index: Int) -> UInt64 {
    var random = DataRandom(seed: seed, stream: [0x524F_4C4C, UInt64(batch), UInt64(index)])
    return random.next()
  }

  /// Mean score, KL, per-token entropy, answer length and stop rate of some rollouts.
  static func figures(_ rollouts: [Rollout], klCoefficient: Double) -> [String: Double] {
    let n = Double(max(rollouts.count, 1))
    let tokens = rollouts.reduce(0) { $0 + $1.answer.count }
    return [
      "score": rollouts.reduce(0) { $0 + $1.score } / n,
      "kl": rollouts.reduce(0) { $0 + $1.kl } / n,
      "non_score_reward": -klCoefficient * rollouts.reduce(0) { $0 + $1.kl } / n,
      "entropy": rollouts.reduce(0) { $0 + $1.entropies.reduce(0, +) } / Double(max(tokens, 1)),
      "answer_tokens": Double(tokens) / n,
      "stopped": Double(rollouts.filter(\.stopped).count) / n,
    ]
  }

  // MARK: TrainingObjective

  public func accumulateStep(_ step: Int, graph: TrainingGraph, method: any TrainableMethod) throws -> ObjectiveStep {
    let policy = try Self.policy(method)
    if queue.isEmpty { try sampleBatch(policy: policy, graph: graph) }
    let members = queue.removeFirst()
    let tokens = members.reduce(0) { $0 + batch[$1].answer.count }
    var sum = PPOLossSum(tokens: tokens, options: options)
    RunPhase.enter(.forward)
    for i in members {
      let rollout = batch[i]
      let request = HeadRequest(
        logProbabilities: true, scalarHead: policy.valueHead, scalarPositions: rollout.positions,
        temperature: options.temperature)
      _ = try graph.evaluate(rollout.row, method: policy, request: request) { out in
        let d = sum.add(
          rollout, logProbabilities: rollout.positions.map { Double(out.logProbabilities[$0]) },
          values: out.scalars.map(Double.init))
        var g = [Float](repeating: 0, count: rollout.row.tokens.count)
        for (k, position) in rollout.positions.enumerated() { g[position] = Float(d.logProbabilities[k]) }
        return HeadGradients(logProbabilities: g, scalars: d.values.map(Float.init))
      }
    }
    return ObjectiveStep(
      loss: sum.loss, counted: tokens,
      tokens: members.reduce(0) { $0 + batch[$1].row.tokens.count },
      metrics: batchFigures.merging(sum.metrics) { $1 })
  }

  /// Mean reward-model score, KL to the reference and answer length of answers sampled (fixed seeds) for the first
  /// `evaluationLimit` validation prompts.
  public func evaluate(graph: TrainingGraph, method: any TrainableMethod) throws -> [String: Double]? {
    guard let validation else { return nil }
    let policy = try Self.policy(method)
    var rollouts: [Rollout] = []
    for i in 0..<min(evaluationLimit, validation.count) {
      rollouts.append(
        try rollout(
          validation[i], policy: policy, graph: graph, seed: Self.seed(options.seed ^ 0xE7A1, 0, i), withValues: false))
    }
    return Self.figures(rollouts, klCoefficient: options.klCoefficient)
  }

  /// Checkpoints fall on batch boundaries (the command saves every whole number of batches), so the state is the
  /// prompt order and the batch count; a checkpoint taken mid-batch resumes with a fresh batch.
  public struct State: Codable, Sendable {
    var schedule: PairSchedule
    var batchIndex: Int
  }

  public var checkpointState: State { State(schedule: schedule, batchIndex: batchIndex) }

  public func restore(_ state: State) throws {
    guard state.schedule.count == prompts.count else {
      throw TrainingError.invalidOption(
        name: "resume",
        reason: "the checkpoint was made on \(state.schedule.count) prompts, this run has \(prompts.count)")
    }
    schedule = state.schedule
    batchIndex = state.batchIndex
    queue = []
  }
}
