import Foundation
import Memory
import Model
import Testing

@testable import Training

/// The library's plan of a run on the tiny fixtures, in process: what the planner chooses for a budget, the smallest
/// budget it names (which must fit, and a MiB less must not), and every method's planned trainable tensors against
/// what the method then allocates.
@Suite struct RunPlanTests {
  static let model = Result {
    try LanguageModel(path: TrainingGraphTests.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
  }

  static func configuration(_ method: FineTuneMethod, budget: Int? = nil) -> FineTuneConfiguration {
    var c = FineTuneConfiguration(model: "tiny", method: method, output: "unused")
    c.seqLen = 32
    c.budget = budget
    c.workers = 2
    return c
  }

  static let methods: [FineTuneMethod] = {
    let lora = try! LoRAConfig(rank: 4, targets: [.q, .k, .v, .o, .gate, .up, .down], seed: 1)
    let dora = try! LoRAConfig(rank: 4, targets: [.q, .v, .down], useDoRA: true, seed: 1)
    return [
      .lora(lora), .prompt(SoftPromptSettings(virtualTokens: 3)),
      .adapter(BottleneckConfig(architecture: .houlsby, reductionFactor: 4, activation: .relu, seed: 1)),
      .ia3(seed: 1), .selective(.norms), .selective(.head), .selective(.lastLayers(1)), .reward(lora, margin: 0),
      .dpo(lora, DPOSettings()), .lora(dora), .dpo(dora, DPOSettings()),
    ]
  }()

  @Test func withoutABudgetEverythingIsResidentAndCheckpointed() throws {
    let planned = try FineTuneRun.plan(Self.configuration(Self.methods[0]), model: Self.model.get())
    #expect(planned.plan.fits)
    #expect(planned.residency == .resident)
    #expect(planned.checkpointing)
    #expect(planned.logitRows == 16)
    #expect(planned.optimizerState.kind == .ram)
    #expect(planned.plan.choices == ["gradient checkpointing per layer"])
  }

  /// A budget that holds the whole run without checkpointing turns it off (auto); the smallest budget fits and a MiB
  /// less does not (on these tiny layers, resident weights are leaner than streaming's page windows), and a run at
  /// that smaller budget is refused before anything is allocated.
  @Test func theSmallestBudgetFitsAndOneMiBLessIsRefused() throws {
    let model = try Self.model.get()
    let roomy = try FineTuneRun.plan(Self.configuration(Self.methods[0], budget: 1 << 30), model: model)
    #expect(!roomy.checkpointing && roomy.residency == .resident)
    let smallest = roomy.plan.smallestBudget
    let atFloor = try FineTuneRun.plan(Self.configuration(Self.methods[0], budget: smallest), model: model)
    #expect(atFloor.plan.fits, "\(atFloor.plan.table())")
    let below = Self.configuration(Self.methods[0], budget: smallest - (1 << 20))
    #expect(try !FineTuneRun.plan(below, model: model).plan.fits)
    #expect {
      _ = try FineTuneRun(configuration: below, model: model)
    } throws: { error in
      guard case .doesNotFit(_, _, let budget, let named, _) = error as? BudgetError else { return false }
      return budget == smallest - (1 << 20) && named == smallest
    }
  }

  /// Each method's planned tensors are the ones its trainable parts allocate, value for value, and every ledger
  /// label its parts reserve has a line in the plan (DoRA's frozen-row norms included).
  @Test(arguments: 0..<11) func plannedShapesAreWhatTheMethodAllocates(index: Int) throws {
    let model = try Self.model.get()
    let definition = Self.methods[index].definition
    let planned = definition.trainableShapes(model: model.config).reduce(0) { $0 + $1.shape.reduce(1, *) }
    let ledger = MemoryLedger()
    let made = try definition.make(model: model, ledger: ledger)
    #expect(made.parameters.parameterCount == planned, "\(definition.name)")
    let lines = TrainingPlan.fixedLines(
      model: model, weights: WeightPlan(model: model, workers: 2),
      options: Self.configuration(Self.methods[index]).planOptions())
    #expect(lines.contains { $0.label == definition.planLine(model: model.config).label })
    for (label, bytes) in ledger.snapshot().currentByLabel where bytes > 0 {
      let plannedBytes = lines.filter { $0.label == label }.reduce(0) { $0 + $1.bytes }
      #expect(
        plannedBytes >= bytes,
        "\(definition.name): \(label) holds \(bytes) bytes, \(plannedBytes) planned: \(lines.map(\.label))")
    }
  }
}
