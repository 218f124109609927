import Training

/// The library names its parameters (`seqLen`, `gradientAccumulation`); the CLI's messages name its flags
/// (`--seq-len`, `--grad-accum`). One table of the names that differ, and kebab case for the rest.
enum FlagNames {
  static let differing: [String: String] = [
    "gradientAccumulation": "--grad-accum", "learningRate": "--lr", "learning rate": "--lr",
    "validation": "--val", "validationFraction": "--val-fraction", "validation fraction": "--val-fraction",
    "batch size": "--batch", "warmupSteps": "--warmup", "warmup steps": "--warmup", "total steps": "--steps",
    "weight decay": "--weight-decay", "maxGradientNorm": "--max-grad-norm", "stopAtFraction": "--stop-at",
    "chosenNLLWeight": "--rpo-alpha", "klCoefficient": "--kl-coef", "valueCoefficient": "--vf-coef",
    "lambda": "--lam", "initialization": "--init-text", "untrackedAllocationBytes": "--untracked-allocation",
    "useDoRA": "--use-dora",
  ]

  /// "--seq-len" for "seqLen".
  static func flag(_ parameter: String) -> String {
    if let flag = differing[parameter] { return flag }
    guard !parameter.contains(" ") else { return parameter }
    var kebab = ""
    for character in parameter {
      if character.isUppercase { kebab += "-" + character.lowercased() } else { kebab.append(character) }
    }
    return "--" + kebab
  }

  /// The error as the CLI reports it: a library option error names the flag.
  static func mapped(_ error: any Error) -> any Error {
    guard case .invalidOption(let name, let reason) = error as? TrainingError else { return error }
    return InputError("\(flag(name)): \(reason)")
  }
}
