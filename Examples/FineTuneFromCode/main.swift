// Fine-tuning from a Swift program: the whole run is a library call. Usage:
//   finetune-from-code MODEL DATA.jsonl OUT_DIR [STEPS]
// Trains LoRA r=8 on q,v within a 512 MiB budget, prints each step and the report's figures, and writes the PEFT
// adapter to OUT_DIR. The tests build it and run it on a tiny model.
import Foundation
import Model
import Training

let arguments = CommandLine.arguments
guard arguments.count >= 4 else {
  FileHandle.standardError.write(Data("usage: finetune-from-code MODEL DATA.jsonl OUT_DIR [STEPS]\n".utf8))
  exit(64)
}
do {
  let model = try LanguageModel(path: arguments[1])
  var configuration = FineTuneConfiguration(
    model: arguments[1], method: .lora(try LoRAConfig(rank: 8, alpha: 16, targets: [.q, .v])), output: arguments[3])
  configuration.data = [DataSourceSpec(path: arguments[2])]
  configuration.steps = arguments.count > 4 ? Int(arguments[4]) : 20
  configuration.seqLen = min(256, model.config.contextLength)
  configuration.learningRate = 1e-3
  configuration.budget = 512 << 20
  let run = try FineTuneRun(configuration: configuration, model: model) { print("note: \($0)") }
  let report = try run.run { event in
    if case .step(let step, let total, _) = event {
      print("step \(step.step)/\(total) loss \(step.loss)")
    }
    return .more
  }
  print("loss \(report.run.lossFirst) -> \(report.run.lossLast), peak RSS \(report.run.peakRSSBytes) bytes")
  print("adapter written to \(report.run.adapter)")
  exit(report.run.budgetCrossed ? 1 : 0)
} catch {
  FileHandle.standardError.write(Data("finetune-from-code: \(error)\n".utf8))
  exit(1)
}
