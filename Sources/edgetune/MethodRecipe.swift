import ArgumentParser
import Memory
import Model
import Training

/// What one training method contributes to a `TrainingRun`: its part of the plan, how its trainable parts are made,
/// how data is prefixed for it, and its fields in the report.
struct MethodRecipe {
  /// The report's `method`: "lora", "prompt".
  var name: String
  /// For the log: "LoRA r=8 alpha=16 on q,v".
  var summary: String
  /// Virtual tokens before every example (soft prompts), 0 otherwise.
  var virtualTokens = 0
  /// The learning rate without --lr.
  var defaultLearningRate = 2e-4
  var plan: (inout TrainingPlan.Options) -> Void
  /// Checks the options against the loaded model's configuration, before planning (a reduction factor that does not
  /// divide the hidden size).
  var validate: (ModelConfig) throws -> Void = { _ in }
  var make: (LanguageModel, MemoryLedger) throws -> any TrainableMethod
  var report: [String: Any]
  /// What the run minimizes: next-token loss on --data, or a preference objective on pairs.
  var objective = Objective.supervised

  enum Objective {
    case supervised
    /// A reward model's ranking loss with this margin.
    case reward(margin: Double)
    case dpo(beta: Double, kind: PreferenceLoss.DPOKind, chosenNLLWeight: Double)
    /// PPO against a reward model on prompts.
    case ppo(PPOSettings)

    /// Whether a training row holds a preference pair (two sequences of up to --seq-len tokens each).
    var usesPairs: Bool {
      switch self {
      case .reward, .dpo: true
      case .supervised, .ppo: false
      }
    }
  }

  /// What `train ppo` adds to the shared options.
  struct PPOSettings {
    var prompts: String
    var validationPrompts: String?
    var rewardModel: String
    var options: PPOOptions
  }

  /// LoRA from `train lora`'s options.
  static func lora(_ o: LoRAOptions, seed: UInt64) throws -> MethodRecipe {
    let config = try LoRAConfig(
      rank: o.rank, alpha: o.alpha, dropout: o.dropout, targets: try o.targetList(), useRSLoRA: o.rslora, seed: seed)
    let targets = config.targets.map(\.moduleName)
    return MethodRecipe(
      name: "lora", summary: "LoRA r=\(o.rank) alpha=\(o.alpha) on \(targets.joined(separator: ","))",
      plan: { plan in
        plan.rank = config.rank
        plan.targets = config.targets
        plan.dropout = config.dropout > 0
      },
      make: { model, ledger in try LoRAAdapterSet(config: config, model: model.config, ledger: ledger) },
      report: ["rank": o.rank, "alpha": o.alpha, "targets": targets])
  }

  /// A soft prompt from `train prompt`'s options.
  static func prompt(_ o: PromptOptions, seed: UInt64) throws -> MethodRecipe {
    let initialization = try o.initialization()
    let tokens = o.virtualTokens
    return MethodRecipe(
      name: "prompt", summary: "a soft prompt of \(tokens) virtual tokens (\(initialization.peftName) init)",
      virtualTokens: tokens, defaultLearningRate: 3e-2,
      plan: { $0.virtualTokens = tokens },
      make: { model, ledger in
        try SoftPrompt(virtualTokens: tokens, initialization: initialization, seed: seed, model: model, ledger: ledger)
      },
      report: ["virtual_tokens": tokens, "prompt_init": initialization.peftName])
  }
}

extension MethodRecipe {
  /// Bottleneck adapters from `train adapter`'s options.
  static func adapter(_ o: BottleneckOptions, seed: UInt64) throws -> MethodRecipe {
    var config = try o.config()
    config.seed = seed
    let fixed = config
    return MethodRecipe(
      name: "adapter",
      summary: "\(config.architecture.rawValue) bottleneck adapters (reduction \(config.reductionFactor), "
        + "\(config.activation.rawValue))",
      defaultLearningRate: 1e-3,
      plan: { $0.bottleneck = fixed },
      validate: { _ = try fixed.size(hidden: $0.hiddenSize) },
      make: { model, ledger in try BottleneckAdapterSet(config: fixed, model: model.config, ledger: ledger) },
      report: [
        "architecture": config.architecture.rawValue, "reduction_factor": config.reductionFactor,
        "non_linearity": config.activation.rawValue,
      ])
  }
}

extension MethodRecipe {
  /// IA3 (`train ia3`): no options of its own.
  static func ia3(seed: UInt64) -> MethodRecipe {
    MethodRecipe(
      name: "ia3", summary: "IA3 scaling vectors on k_proj, v_proj and down_proj's input", defaultLearningRate: 3e-3,
      plan: { $0.ia3 = true }, make: { model, ledger in try IA3Set(model: model.config, seed: seed, ledger: ledger) },
      report: ["targets": ["k_proj", "v_proj", "down_proj"]])
  }
}

extension MethodRecipe {
  /// Selective tuning (`train selective --tensors norms`).
  static func selectiveLayers(_ count: Int) -> MethodRecipe {
    MethodRecipe(
      name: "selective", summary: "the weights of the last \(count) layers (selective tuning)",
      defaultLearningRate: 1e-4,
      plan: { $0.selectiveLayers = count },
      validate: { config in
        guard count <= config.layerCount else {
          throw ValidationError("--tensors last-layers:\(count): the model has \(config.layerCount) layers")
        }
      },
      make: { model, ledger in try SelectiveLayers(model: model, count: count, ledger: ledger) },
      report: ["tensors": "last-layers", "layers": count])
  }

  static func selectiveHead() -> MethodRecipe {
    MethodRecipe(
      name: "selective", summary: "the output head (selective tuning, feature extraction)", defaultLearningRate: 1e-3,
      plan: { $0.selectiveHead = true },
      make: { model, ledger in try SelectiveHead(model: model, ledger: ledger) },
      report: ["tensors": "head"])
  }

  static func selectiveNorms() -> MethodRecipe {
    MethodRecipe(
      name: "selective", summary: "the norm weights (selective tuning)", defaultLearningRate: 1e-3,
      plan: { $0.selectiveNorms = true }, make: { model, ledger in try SelectiveNorms(model: model, ledger: ledger) },
      report: ["tensors": "norms"])
  }
}
