import ArgumentParser
import Formats
import Foundation
import Memory
import Model
import Training

/// `edgetune convert ADAPTER --model BASE -o OUT`: a LoRA adapter between PEFT's directory and llama.cpp's adapter
/// GGUF, either way. A .gguf output gets an Ollama Modelfile beside it when the base is a GGUF file.
extension Convert {
  /// True when INPUT is an adapter (a PEFT directory or a llama.cpp adapter GGUF) rather than a model.
  var inputIsAdapter: Bool {
    FileManager.default.fileExists(atPath: (input as NSString).appendingPathComponent("adapter_config.json"))
      || LoRAAdapterSet.isAdapterGGUF(input)
  }

  func validateAdapterConversion() throws {
    guard model != nil else {
      throw ValidationError(
        "\(input) is an adapter: give its base model with --model (the GGUF file llama.cpp or Ollama will load)")
    }
    guard !check else { throw ValidationError("--check measures a model's conversion; \(input) is an adapter") }
    let toGGUF = output.hasSuffix(".gguf")
    guard toGGUF || !(output.hasSuffix(".nf4") || output.hasSuffix(".safetensors")) else {
      throw ValidationError(
        "-o for an adapter is a .gguf file (llama.cpp's LoRA adapter) or a directory (PEFT's adapter format)")
    }
    guard toGGUF != LoRAAdapterSet.isGGUFFile(input) else {
      throw ValidationError(
        toGGUF
          ? "\(input) is already a GGUF adapter; -o must be a directory"
          : "\(input) is a PEFT adapter directory; -o must end in .gguf")
    }
  }

  func convertAdapter() throws {
    let start = ContinuousClock.now
    let base = try ModelLoader.load(path: model!)
    let ledger = MemoryLedger()
    let adapter = try LoRAAdapterSet.load(from: input, model: base.config, ledger: ledger)
    var report = Result(input: input, output: output, fileBytes: 0)
    if output.hasSuffix(".gguf") {
      report.fileBytes = try adapter.writeGGUF(to: output, baseModel: adapter.baseModelName)
      report.dtype = "f32"
      if !json {
        Output.result(
          "\(output): \(ByteCount.format(report.fileBytes)), llama.cpp LoRA adapter (\(adapter.description), "
            + "alpha \(adapter.config.alpha))")
      }
      if GGUFFile.hasMagic(atPath: model!) {
        let modelfile = try OllamaModelfile.write(besideAdapter: output, base: model!)
        report.modelfile = modelfile
        if !json {
          let llama = "llama-cli -m \(shellQuoted(absolutePath(model!))) --lora \(shellQuoted(absolutePath(output)))"
          Output.result("llama.cpp: \(llama)")
          Output.result("Ollama:    ollama create NAME -f \(shellQuoted(modelfile)) && ollama run NAME")
        }
      } else {
        Output.diagnostic(
          "note: \(model!) is not a GGUF file; llama.cpp and Ollama apply the adapter to the GGUF this model came "
            + "from (same architecture and shapes), so no Modelfile was written")
      }
    } else {
      try adapter.save(to: output, baseModel: adapter.baseModelName)
      report.fileBytes = fileSize(atPath: (output as NSString).appendingPathComponent("adapter_model.safetensors"))
      if !json { Output.result("\(output): PEFT LoRA adapter (\(adapter.description))") }
    }
    report.seconds = (ContinuousClock.now - start).seconds
    if json {
      let status = try ProcStatus.current()
      try Output.json(CommandReport(report, memory: MemoryFigures(ledger: ledger, peakRSS: status.vmHWM)))
    }
    Output.diagnostic(String(format: "converted in %.1f s; ", report.seconds) + Output.memoryLine())
  }
}

/// Ollama's Modelfile for a base GGUF and a LoRA adapter GGUF: `ollama create NAME -f FILE` makes a model of them.
/// ref: ollama docs/modelfile.md (FROM, ADAPTER).
enum OllamaModelfile {
  /// Writes "<adapter without .gguf>.Modelfile" beside the adapter (atomically); returns its path.
  static func write(besideAdapter adapter: String, base: String) throws -> String {
    let path = String(adapter.dropLast(".gguf".count)) + ".Modelfile"
    let text = """
      # Ollama: ollama create NAME -f \(path) && ollama run NAME
      # The adapter applies to exactly this base model (the GGUF it was trained on).
      FROM \(absolutePath(base))
      ADAPTER \(absolutePath(adapter))

      """
    try AtomicFileWriter.write(Array(text.utf8), to: path)
    return path
  }
}
