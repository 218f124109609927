import Foundation
import Memory
import Model
import Testing

@testable import Training

/// `PPOObjective` itself on the tiny fixtures: its step's gradients against finite differences of its own loss, and
/// after a real PPO update (sampled rollouts, the objective's steps, AdamW) a KL to the reference that is positive,
/// finite and equal to the one recomputed from the base model's and the policy's log-probabilities by the inference
/// session (a different forward than the training graph's).
@Suite struct PPOObjectiveTests {
  /// An objective on `model` with a reward model of random score head (its scores only move the advantages).
  static func objective(_ model: LanguageModel, prompts: PromptSet, options: PPOOptions, capacity: Int) throws
    -> PPOObjective
  {
    let reward = try RewardModel(config: try LoRAConfig(rank: 4, seed: 5), model: model.config, ledger: MemoryLedger())
    AdapterTestSupport.fill(reward.parameters[LoRAHeads.scoreKey]!.value, seed: 77)
    return try PPOObjective(
      prompts: prompts, validation: nil, reward: reward, model: model, encoder: ExampleEncoder(model: model),
      capacity: capacity, options: options, ledger: MemoryLedger())
  }

  /// A policy whose LoRA B and value head are random, so every tensor has a gradient.
  static func randomPolicy(_ model: LanguageModel) throws -> ValueHeadPolicy {
    let policy = try ValueHeadPolicy(
      config: try LoRAConfig(rank: 4, seed: 3), model: model.config, ledger: MemoryLedger())
    RLHFGradientTests.randomLoRA(policy.adapters)
    AdapterTestSupport.fill(policy.parameters[LoRAHeads.valueWeightKey]!.value, seed: 8)
    return policy
  }

  /// A rollout of `tokens` whose answer is the tokens after `promptLength`, with the policy's current
  /// log-probabilities (at temperature 0.7) and values shifted by `shifts` as the sampling-time ones, so the
  /// unclipped branch, the clipped flat branch and ratios near 1 all occur, away from the kinks a finite difference
  /// could straddle (PPOTests checks the branches alone).
  static func rollout(
    _ tokens: [Int32], promptLength p: Int, shifts: [Double], score: Double, policy: ValueHeadPolicy,
    graph: TrainingGraph
  ) throws -> Rollout {
    let positions = Array((p - 1)..<(tokens.count - 1))
    var targets = [Int32](repeating: -1, count: tokens.count)
    for position in positions { targets[position] = tokens[position + 1] }
    let row = TrainingGraph.Row(tokens: tokens, targets: targets)
    let now = try graph.evaluate(
      row, method: policy,
      request: HeadRequest(
        logProbabilities: true, scalarHead: policy.valueHead, scalarPositions: positions, temperature: 0.7))
    let old = positions.enumerated().map { Double(now.logProbabilities[$1]) + shifts[$0] }
    return Rollout(
      row: row, positions: positions, answer: Array(tokens[p...]), stopped: true, oldLogProbabilities: old,
      referenceLogProbabilities: old.map { $0 - 0.3 },
      oldValues: now.scalars.enumerated().map { Double($1) + 0.02 * Double($0 % 2 == 0 ? 1 : -1) },
      entropies: positions.map { _ in 0 }, score: score)
  }

  /// The objective's minibatch step: its gradients of the policy's LoRA (first two layers) and value head against
  /// central differences of the loss the same step returns.
  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"])
  func objectiveStepGradientsMatchFiniteDifferences(file: String) throws {
    let model = try LanguageModel(path: TrainingGraphTests.tiny.appendingPathComponent(file).path)
    let policy = try Self.randomPolicy(model)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 4, logitRows: 3, ledger: MemoryLedger())
    var options = PPOOptions()
    (options.rollouts, options.miniBatch, options.epochs, options.temperature) = (2, 2, 1, 0.7)
    let prompt = PromptSet.Prompt(messages: [], tokens: [5, 77, 120], line: 1)
    let objective = try Self.objective(
      model, prompts: PromptSet(path: "fixed", prompts: [prompt]), options: options, capacity: 16)
    let rollouts = [
      try Self.rollout(
        [5, 77, 120, 33, 9, 250, 18, 64], promptLength: 3, shifts: [1.0, -0.01, 1.0, -1.0, 0.01], score: 0.8,
        policy: policy, graph: graph),
      try Self.rollout(
        [5, 77, 120, 101, 7, 44], promptLength: 3, shifts: [-1.0, 0.01, 1.0], score: -0.6, policy: policy,
        graph: graph),
    ]
    // One minibatch of both rollouts per call; beginning the batch again restores it before each evaluation.
    func step() throws -> ObjectiveStep {
      objective.begin(rollouts)
      return try objective.accumulateStep(0, graph: graph, method: policy)
    }
    policy.parameters.zeroGradients()
    let first = try step()
    #expect(first.counted == 8 && first.loss.isFinite)
    #expect(first.metrics["clip_fraction"]! > 0 && first.metrics["clip_fraction"]! < 1, "\(first.metrics)")
    // The step's loss is a mean over 8 tokens: both sides are scaled by 100 so the check's absolute floor cannot be
    // what passes them (the check also requires sampled gradients well above it).
    let scale = 100.0
    var generator = SeededGenerator(seed: 12)
    let tensors = policy.parameters.tensors.filter {
      $0.name.contains("layers.0.") || $0.name.contains("layers.1.") || $0.name.hasPrefix("v_head")
    }
    // Each evaluation runs the step's backward too, adding to every gradient: check against copies of the first's.
    let firstGradients = tensors.map { $0.gradient.map { $0 * Float(scale) } }
    for (tensor, gradient) in zip(tensors, firstGradients) {
      var analytic = gradient
      try analytic.withUnsafeMutableBufferPointer { gradients in
        _ = try checkGradients(
          tensor.name, values: tensor.value, gradients: gradients, samples: 3, generator: &generator
        ) { scale * (try step().loss) }
      }
    }
  }

  /// One PPO batch of real rollouts and updates moves the policy: the next batch's KL to the reference is positive
  /// and finite, and each rollout's sampled log-probabilities (policy and reference) are those the inference
  /// session computes with the policy's LoRA and without it.
  @Test func klAfterAnUpdateIsPositiveAndMatchesTheReferenceModel() throws {
    let model = try LanguageModel(path: TrainingGraphTests.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let policy = try ValueHeadPolicy(
      config: try LoRAConfig(rank: 4, seed: 3), model: model.config, ledger: MemoryLedger())
    let capacity = 64
    var options = PPOOptions()
    (options.rollouts, options.miniBatch, options.epochs, options.maxNewTokens) = (2, 1, 2, 6)
    let prompts = try PromptSet.load(
      path: try DataFixtures.temporaryFile("{\"prompt\": \"Name a colour.\"}\n{\"prompt\": \"Say hi.\"}\n"),
      model: model, maxTokens: capacity - options.maxNewTokens)
    let objective = try Self.objective(model, prompts: prompts, options: options, capacity: capacity)
    let graph = try TrainingGraph(
      model: model, capacity: capacity, maximumRank: 4, logitRows: 8, ledger: MemoryLedger())
    let optimizer = try AdamW(parameters: policy.parameters, ledger: MemoryLedger())
    // The first batch: B = 0, so the policy is the base and the KL is exactly 0 (what CI checked before).
    for step in 0..<options.optimizerStepsPerBatch {
      policy.parameters.zeroGradients()
      _ = try objective.accumulateStep(step, graph: graph, method: policy)
      _ = policy.parameters.clipGradients(maxNorm: 1)
      try optimizer.step(policy.parameters, learningRate: 1e-2)
    }
    #expect(objective.history.first?["kl"] == 0)
    try objective.sampleBatch(policy: policy, graph: graph)
    let kl = try #require(objective.history.last?["kl"])
    #expect(kl.isFinite && kl > 0.05, "KL after one PPO batch: \(kl)")

    let reference = try InferenceSession(model: model, capacity: capacity, ledger: MemoryLedger())
    let current = try InferenceSession(model: model, capacity: capacity, adapter: policy.lora, ledger: MemoryLedger())
    var recomputed = 0.0
    var worst = 0.0
    for rollout in objective.batch {
      let base = try Self.logProbabilities(rollout, reference)
      let moved = try Self.logProbabilities(rollout, current)
      for k in rollout.positions.indices {
        worst = max(worst, abs(base[k] - rollout.referenceLogProbabilities[k]))
        worst = max(worst, abs(moved[k] - rollout.oldLogProbabilities[k]))
      }
      recomputed += zip(moved, base).reduce(0) { $0 + $1.0 - $1.1 }
    }
    recomputed /= Double(objective.batch.count)
    print("PPOObjectiveTests: KL after one batch \(kl), recomputed \(recomputed), worst log-prob difference \(worst)")
    #expect(worst < 1e-4, "sampled log-probabilities differ from the session's by \(worst)")
    #expect(abs(kl - recomputed) < 1e-4 * max(1, abs(kl)), "KL \(kl), recomputed from the models \(recomputed)")
  }

  /// log softmax(logits / 0.7) of each answer token, by `session`'s forward over the whole row.
  static func logProbabilities(_ rollout: Rollout, _ session: InferenceSession) throws -> [Double] {
    session.reset()
    var out: [Double] = []
    try session.forward(rollout.row.tokens, logits: .all) { i, logits in
      guard rollout.positions.contains(i) else { return }
      let scaled = logits.map { Double($0) / 0.7 }
      let m = scaled.max()!
      let logSum = m + log(scaled.reduce(0) { $0 + exp($1 - m) })
      out.append(scaled[Int(rollout.row.tokens[i + 1])] - logSum)
    }
    return out
  }
}
