import ArgumentParser
import Memory
import Model
import Training

/// `edgetune train ppo`: PPO of a LoRA policy with a value head against a reward model, every role on one base.
struct TrainPPO: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ppo",
    abstract: "PPO: tune a LoRA policy toward a reward model's scores, the frozen base (adapter off) as reference.",
    discussion: """
      Every role shares the one mapped base: the policy is the base + this run's LoRA, the reference the base with \
      it off, the reward model (--reward, from `train reward`) the base + its own LoRA and score head, the value \
      model a head on the policy's hidden states. A step is one PPO batch: --rollouts answers sampled with the KV \
      cache (--temperature, --max-new-tokens, stopping at the end of the turn), scored, per-token KL penalty against \
      the reference, GAE, whitened advantages, then --ppo-epochs passes in minibatches of --mini-batch rollouts \
      (each an optimizer step). --steps counts PPO batches; --seq-len bounds prompt + answer. --init-adapter starts \
      the policy from a supervised adapter (InstructGPT's SFT → RM → PPO); the KL is still measured against the \
      base. The result is a PEFT LoRA adapter (plus value_head.safetensors) for `generate --adapter`.
      """)

  @OptionGroup var training: TrainingOptions
  @OptionGroup var lora: LoRAOptions
  @OptionGroup var output: TrainingOutputOptions

  @OptionGroup var ppo: PPOCommandOptions

  func validate() throws {
    guard ppo.reward != nil else { throw ValidationError("give the reward model with --reward") }
    guard ppo.prompts != nil else { throw ValidationError("give the rollout prompts with --prompts") }
    do { _ = try ppo.options(seed: training.seed) } catch { throw ValidationError("\(error)") }
    guard ppo.maxNewTokens < training.seqLen else {
      throw ValidationError(
        "--max-new-tokens (\(ppo.maxNewTokens)) must leave room for the prompt in --seq-len (\(training.seqLen))")
    }
  }

  func run() throws {
    try output.train(training, try ppo.method(lora, training: training))
  }
}
