import ArgumentParser
import Formats
import Foundation
import Memory
import Model
import Training

/// --adapter, shared by the verbs that run a model: a LoRA adapter directory (PEFT format) applied without merging.
struct AdapterOptions: ParsableArguments {
  @Option(help: "A LoRA adapter directory (adapter_config.json + adapter_model.safetensors) to apply.")
  var adapter: String?

  /// The adapter's parts for `model`, reserved in `ledger`, or nil without --adapter.
  func load(for model: LanguageModel, ledger: MemoryLedger) throws -> LoRAAdapterSet? {
    guard let adapter else { return nil }
    let set = try LoRAAdapterSet.load(from: adapter, model: model.config, ledger: ledger)
    Output.diagnostic(
      "adapter \(adapter): LoRA r=\(set.config.rank) on \(set.config.targets.map(\.moduleName).joined(separator: ","))")
    return set
  }
}

extension AdapterOptions {
  /// Bytes the adapter will take once loaded (its safetensors file's size: fp32 A and B), for plans; 0 without one.
  var plannedBytes: Int {
    guard let adapter else { return 0 }
    let path = (adapter as NSString).appendingPathComponent("adapter_model.safetensors")
    return fileSize(atPath: path)
  }
}
