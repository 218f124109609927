import ArgumentParser
import Training

// Each method's options mapped onto the library's `FineTuneMethod`: the CLI's only knowledge of the methods.

extension LoRAOptions {
  func method(seed: UInt64) throws -> FineTuneMethod { .lora(try config(seed: seed)) }
}

extension PromptOptions {
  func method(seed: UInt64) throws -> FineTuneMethod {
    .prompt(SoftPromptSettings(virtualTokens: virtualTokens, initialization: try initialization(), seed: seed))
  }
}

extension BottleneckOptions {
  func method(seed: UInt64) throws -> FineTuneMethod {
    var config = try config()
    config.seed = seed
    return .adapter(config)
  }
}

extension TrainSelective {
  /// The tensors --tensors names.
  static func tensors(_ text: String) throws -> SelectiveTensors {
    if text == "norms" { return .norms }
    if text == "head" { return .head }
    if text.hasPrefix("last-layers:"), let count = Int(text.dropFirst("last-layers:".count)), count >= 1 {
      return .lastLayers(count)
    }
    throw ValidationError(
      "--tensors \(text) matches nothing this version can train; use norms, head or last-layers:K (K ≥ 1)")
  }
}

extension DPOOptions {
  func method(_ lora: LoRAOptions, seed: UInt64) throws -> FineTuneMethod {
    .dpo(try lora.config(seed: seed), DPOSettings(beta: beta, kind: kind, chosenNLLWeight: rpoAlpha))
  }
}

extension PPOCommandOptions {
  /// PPO of `lora`'s policy; checks what PPO needs that the other methods do not.
  func method(_ lora: LoRAOptions, training: TrainingOptions) throws -> FineTuneMethod {
    guard let reward else { throw ValidationError("PPO needs --reward (a reward model directory)") }
    guard let prompts else { throw ValidationError("PPO needs --prompts (a JSONL file of prompts)") }
    guard maxNewTokens < training.seqLen else {
      throw ValidationError(
        "--max-new-tokens (\(maxNewTokens)) must leave room for the prompt in --seq-len (\(training.seqLen))")
    }
    guard training.data.isEmpty else { throw ValidationError("PPO samples its own data: give --prompts, not --data") }
    let settings = try PPOSettings(
      prompts: prompts, validationPrompts: valPrompts, rewardModel: reward, options: try options(seed: training.seed),
      initAdapter: initAdapter)
    return .ppo(try lora.config(seed: training.seed), settings)
  }
}

/// The reward model's method from `train reward`'s options.
func rewardMethod(_ lora: LoRAOptions, margin: Double, seed: UInt64) throws -> FineTuneMethod {
  guard margin.isFinite else { throw ValidationError("--margin must be a number") }
  return .reward(try lora.config(seed: seed), margin: margin)
}
