import ArgumentParser
import Formats
import Foundation
import Memory
import Model
import Training

/// --adapter, shared by the verbs that run a model: a PEFT adapter directory (LoRA or a soft prompt) applied without
/// merging.
struct AdapterOptions: ParsableArguments {
  @Option(
    help: """
      A PEFT adapter directory (adapter_config.json + adapter_model.safetensors) to apply: LoRA, DoRA, IA3, a soft \
      prompt, bottleneck adapters or a selective result; or a llama.cpp LoRA adapter .gguf file.
      """)
  var adapter: String?

  /// The adapter's parts for `model`, reserved in `ledger`, or nil without --adapter.
  func load(for model: LanguageModel, ledger: MemoryLedger) throws -> (any TrainableMethod)? {
    guard let adapter else { return nil }
    let method = try AdapterLoader.load(from: adapter, model: model, ledger: ledger)
    Output.diagnostic("adapter \(adapter): \(method.description)")
    return method
  }
}

extension AdapterOptions {
  /// The soft prompt's length when --adapter is a prompt-tuning adapter (read from its config), else nil.
  var virtualTokenCount: Int? { adapter.flatMap(AdapterLoader.virtualTokenCount(in:)) }

  /// Bytes the adapter will take once loaded (its safetensors file's size: fp32 tensors), for plans; 0 without one.
  var plannedBytes: Int {
    guard let adapter else { return 0 }
    // A llama.cpp adapter file may hold F16 or Q8_0 tensors, which widen to fp32: at most 4× its size.
    if LoRAAdapterSet.isGGUFFile(adapter) { return 4 * fileSize(atPath: adapter) }
    let path = (adapter as NSString).appendingPathComponent("adapter_model.safetensors")
    return fileSize(atPath: path)
  }
}
