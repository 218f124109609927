import ArgumentParser
import Formats
import Foundation
import Memory
import Model
import Training

/// `edgetune merge`: fold a LoRA adapter into the weights and write a standalone model.
struct Merge: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Merge a LoRA, IA3 or selective result into its base; write it as .nf4, .safetensors or .gguf.",
    discussion: """
      .safetensors writes the merged weights in f16 or f32 for Hugging Face tools; .gguf in f16, f32 or one of
      llama.cpp's quantized types (--dtype q8_0, q6_k, q5_k, q5_1, q5_0, q4_k, q4_1, q4_0: llama.cpp's own quantizers,
      bytes as llama-quantize --pure makes them) for llama.cpp and Ollama. A LoRA adapter can also stay a separate
      file on the unchanged base: `edgetune convert ADAPTER --model BASE.gguf -o adapter.gguf`. .nf4 re-quantizes the
      merged weights, which can erase a small LoRA update.
      """)

  @OptionGroup var model: ModelOptions
  @OptionGroup var threads: ThreadOptions

  @Option(
    help: "The adapter: a LoRA or IA3 directory (PEFT format), a llama.cpp LoRA .gguf, or a `train selective` result.")
  var adapter: String

  @Option(name: .shortAndLong, help: "Output file: .nf4, .safetensors or .gguf.")
  var output: String

  @Option(help: "Element type of the merged matrices: f32 or f16, or for .gguf a llama.cpp type (q8_0 … q4_0).")
  var dtype: String = "f16"

  func validate() throws {
    guard output.hasSuffix(".nf4") || output.hasSuffix(".safetensors") || output.hasSuffix(".gguf") else {
      throw ValidationError("-o must end in .nf4, .safetensors or .gguf")
    }
    _ = try OutputType.parse(dtype, output: output)
  }

  func run() throws {
    threads.apply()
    try OutputPath.requireCreatable(output, as: .file)
    let start = ContinuousClock.now
    let base = try ModelLoader.load(path: model.model)
    let ledger = MemoryLedger()
    let type = AdapterLoader.peftType(in: adapter)
    if let type, type != "LORA", type != "SELECTIVE", type != "IA3" {
      let reason =
        switch type {
        case "PROMPT_TUNING": "a soft prompt adds inputs, not weight changes, so it cannot be merged into the weights"
        case "BOTTLENECK":
          "bottleneck adapters add layers, not weight changes, so they cannot be merged into the weights"
        default: "only LoRA adapters can be merged"
        }
      throw InputError(
        "\(adapter) (peft_type \(type)): \(reason); apply it with `generate --adapter` or `eval --adapter`")
    }
    // Selective results replace tensors; LoRA adds its low-rank product to them.
    let merged: LanguageModel
    let loaded = try AdapterLoader.load(from: adapter, model: base, ledger: ledger)
    if let ia3 = loaded as? IA3Set {
      merged = base.mergingScalings(ia3)
    } else if let head = loaded as? SelectiveHead {
      merged = base.replacingMatrices(head)
    } else if let layers = loaded as? SelectiveLayers {
      merged = base.replacingNorms(layers).replacingMatrices(layers)
    } else if let norms = loaded as? SelectiveNorms {
      merged = base.replacingNorms(norms)
    } else if let lora = loaded.lora {
      merged = base.merging(lora)
    } else {
      throw InputError("\(adapter): \(loaded.description) cannot be merged into the weights")
    }
    let bar = ProgressBar("merge", total: 100)
    let bytes: Int
    if output.hasSuffix(".nf4") {
      // Norm vectors stay fp32 in an NF4 file; LoRA's products and trained layers' matrices are re-quantized.
      if !(loaded is SelectiveNorms) {
        Output.diagnostic(
          "note: merging into .nf4 re-quantizes every adapted matrix; a LoRA update smaller than NF4's rounding step "
            + "is lost (measured on the demo: 92% exact match merged to .gguf f16, 0% merged to .nf4). Keep the adapter "
            + "separate (--adapter) or merge to .safetensors/.gguf when the update must survive.")
      }
      bytes = try NF4Converter.convert(merged, to: output, options: .init(), ledger: ledger) { done, total in
        bar.update(done * 100 / max(total, 1))
      }.fileBytes
    } else {
      let exporter = ModelExporter(model: merged, type: try OutputType.parse(dtype, output: output))
      bytes =
        try output.hasSuffix(".gguf")
        ? exporter.writeGGUF(to: output, ledger: ledger) { done, total in bar.update(done * 100 / max(total, 1)) }
        : exporter.writeSafetensors(to: output, ledger: ledger) { done, total in bar.update(done * 100 / max(total, 1))
        }
    }
    bar.finish()
    Output.result("\(output): \(ByteCount.format(bytes)), base \(model.model) + adapter \(adapter)")
    Output.diagnostic(String(format: "merged in %.1f s; ", (ContinuousClock.now - start).seconds) + Output.memoryLine())
  }
}
