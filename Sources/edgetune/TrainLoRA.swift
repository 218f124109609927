import ArgumentParser
import Formats
import Foundation
import Memory
import Model
import Training

/// `edgetune train lora`: supervised LoRA (QLoRA when the base is an NF4 file) on JSONL data.
struct TrainLoRA: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lora",
    abstract: "LoRA fine-tuning on JSONL data ({\"text\"}, {\"prompt\",\"completion\"} or {\"messages\"}).",
    discussion: """
      The adapter is written to --out in PEFT's format (adapter_config.json, adapter_model.safetensors);
      checkpoints (adapter, optimizer state, data position) go to OUT.checkpoints/ every --save-every steps.
      """)

  @OptionGroup var options: LoRARunOptions

  @Option(help: "Output directory for the adapter.")
  var out: String

  @Option(help: "Write a JSON report of the run here.")
  var report: String?

  func validate() throws {
    guard (options.steps == nil) != (options.epochs == nil) else {
      throw ValidationError("give exactly one of --steps and --epochs")
    }
  }

  func run() throws {
    try checkOutputWritable()
    let lora = try LoRARun(options: options)
    let outcome = try lora.execute(out: out)
    if let report {
      let data = try JSONSerialization.data(withJSONObject: outcome.report, options: [.prettyPrinted, .sortedKeys])
      let writer = try AtomicFileWriter(path: report)
      try writer.write(Array(data))
      try writer.finish()
    }
    Output.result(outcome.summary)
  }

  /// Fails before any work when --out (or its parent, if it does not exist yet) cannot be written.
  func checkOutputWritable() throws {
    let url = URL(fileURLWithPath: out).standardizedFileURL
    var directory = url.path
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else { throw InputError("--out \(out) exists and is not a directory") }
      directory = url.deletingLastPathComponent().path
    } else {
      directory = url.deletingLastPathComponent().path
      guard FileManager.default.fileExists(atPath: directory) else {
        throw InputError("--out \(out): the directory \(directory) does not exist")
      }
    }
    // access(2) says yes to root everywhere; creating a file is the real test (procfs, read-only mounts, full disks).
    let probe = (directory as NSString).appendingPathComponent(".edgetune-write-test-\(getpid())")
    guard FileManager.default.createFile(atPath: probe, contents: Data("x".utf8)) else {
      throw InputError("--out \(out): cannot write in \(directory)")
    }
    try? FileManager.default.removeItem(atPath: probe)
  }
}
