import Foundation
import Memory
import Quantization
import Testing

@testable import Model

/// `InferencePlan.conversion` against the ledger of the conversion it plans: the real model (many blocks of rows per
/// matrix, llama.cpp's Q/K order in GGUF) converted in-process, each direction with a fresh ledger. Every ledger line of
/// the plan must hold its label's peak, and not by much: the plan sizes the same buffers the converters reserve.
@Suite struct ConversionPlanTests {
  static func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    let manager = FileManager.default
    let directory = manager.temporaryDirectory.appendingPathComponent("edgetune-plan-\(UUID().uuidString)").path
    try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? manager.removeItem(atPath: directory) }
    try body(directory)
  }

  /// Each ledger line's planned bytes against its label's peak: at least the peak, within 1% above it (NF4's
  /// group scales are planned but live in an array, outside the ledger).
  static func expectLedgerLinesHold(_ plan: MemoryPlan, _ ledger: MemoryLedger, _ what: String) {
    let peaks = ledger.snapshot().peakByLabel
    let lines = plan.lines.filter { $0.kind == .ledger }
    #expect(Set(lines.map(\.label)) == Set(peaks.keys), "\(what): \(peaks)")
    for line in lines {
      let peak = peaks[line.label, default: 0]
      #expect(peak > 0 && peak <= line.bytes && line.bytes <= peak + peak / 100, "\(what) \(line.label): \(peak)")
    }
  }

  @Test(.enabled(if: ModelFixtures.haveGGUF), arguments: [NF4Converter.Options.EmbeddingStorage.nf4, .f16])
  func nf4PlanHoldsTheLedger(embeddings: NF4Converter.Options.EmbeddingStorage) throws {
    let model = try ModelFixtures.ggufModel()
    var options = NF4Converter.Options()
    options.embeddings = embeddings
    let plan = InferencePlan.conversion(model: model, to: .nf4(options), budget: nil)
    try Self.withTemporaryDirectory { directory in
      let ledger = MemoryLedger()
      _ = try NF4Converter.convert(model, to: directory + "/m.nf4", options: options, ledger: ledger)
      Self.expectLedgerLinesHold(plan, ledger, ".nf4, \(embeddings) embeddings")
    }
  }

  @Test(.enabled(if: ModelFixtures.haveGGUF), arguments: [GGMLType.f16, .f32, .q8_0, .q4_K])
  func ggufPlanHoldsTheLedger(type: GGMLType) throws {
    let model = try ModelFixtures.ggufModel()
    let plan = InferencePlan.conversion(model: model, to: .dequantized(type: type, llamaCppOrder: true), budget: nil)
    try Self.withTemporaryDirectory { directory in
      let ledger = MemoryLedger()
      try ModelExporter(model: model, type: type).writeGGUF(to: directory + "/m.gguf", ledger: ledger)
      if type != .f32 {
        Self.expectLedgerLinesHold(plan, ledger, ".gguf \(type.name)")
      } else {
        // fp32 output goes out of the source block itself: no output buffer, and none planned.
        #expect(ledger.snapshot().peakByLabel["convert-output"] == nil)
        #expect(plan.lines.first { $0.label == "convert-output" }?.bytes == 0)
        #expect(
          ledger.snapshot().peakByLabel["convert-source"] == plan.lines.first { $0.label == "convert-source" }?.bytes)
      }
    }
  }
}
