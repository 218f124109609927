import ArgumentParser

/// `edgetune train <method>`: fine-tuning on a frozen base.
struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Fine-tune a model: only small trainable parts change, the base stays frozen in its mapping.",
    subcommands: [
      TrainLoRA.self, TrainPrompt.self, TrainAdapter.self, TrainIA3.self, TrainSelective.self, TrainReward.self,
      TrainDPO.self, TrainPPO.self,
    ])
}
