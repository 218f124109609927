import ArgumentParser
import Foundation
import Memory
import Model
import Training

/// `edgetune plan`: the memory plan of a training run (any method), computed without running it.
struct PlanCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "plan",
    abstract: "Show where a training run's memory will go, and what fits a --budget, without running it.",
    discussion: """
      Takes the options of `train <method>` with --method (default lora). Maps the model (nothing is read but its
      header and tokenizer) and computes every consumer: weights (resident or streamed), checkpoints, activations,
      gradients, logits, the method's trainable parameters, their gradients and optimizer state, runtime and data. With --budget it shows what was chosen to fit, or the
      smallest budget that would work; exit status 1 when the run cannot fit.
      """)

  @OptionGroup var options: AnyMethodRunOptions

  @Flag(help: "Print the plan as JSON.")
  var json = false

  func run() throws {
    options.threads.apply()
    let model = try ModelLoader.load(path: options.model.model)
    let recipe = try options.recipe()
    try recipe.validate(model.config)
    let planned = try TrainingRun.plan(options: options.training, recipe: recipe, model: model)
    let plan = planned.plan
    if json {
      try Output.json([
        "budget_bytes": options.budget.bytes as Any, "planned_peak_bytes": plan.total, "fits": plan.fits,
        "smallest_budget_bytes": plan.smallestBudget, "choices": plan.choices,
        "weights_streamed": planned.residency != .resident, "logit_rows": planned.logitRows,
        "gradient_checkpointing": planned.checkpointing,
        "lines": plan.linesJSON,
      ])
    } else {
      Output.result(plan.table(), terminator: "")
    }
    if !plan.fits {
      throw BudgetError(
        "the run does not fit the budget; the smallest budget that works for these options is "
          + ByteCount.format(plan.smallestBudget))
    }
  }
}
