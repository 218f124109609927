import Foundation
import Memory
import Model
import Testing

@testable import Training

/// Prompt tuning: gradients of the virtual-token embeddings by finite differences, training and inference paths in
/// agreement, PEFT's initializations, and the adapter directory round trip.
@Suite struct AdapterSoftPromptTests {
  static let tiny = TrainingGraphTests.tiny

  /// Three virtual tokens before each segment (the encoder puts them before every example), targets on the text.
  static func row(packed: Bool) -> TrainingGraph.Row {
    let prompt = VirtualToken.prefix(3)
    let first: [Int32] = [5, 77, 120, 33, 9]
    let second: [Int32] = [250, 18, 64, 101]
    let tokens = prompt + first + (packed ? prompt + second : second)
    var targets = Array(tokens.dropFirst()) + [-1]
    for (t, next) in targets.enumerated() where next < 0 { targets[t] = -1 }  // never predict a virtual token
    targets[0] = -1
    var starts: [Int32]? = nil
    if packed {
      let boundary = Int32(prompt.count + first.count)
      starts = tokens.indices.map { $0 < Int(boundary) ? 0 : boundary }
      targets[Int(boundary) - 1] = -1  // no target across the packed boundary
    }
    return TrainingGraph.Row(tokens: tokens, targets: targets, segmentStarts: starts)
  }

  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"], [false, true])
  func promptGradientsMatchFiniteDifferences(file: String, packed: Bool) throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent(file).path)
    let ledger = MemoryLedger()
    let prompt = try SoftPrompt(virtualTokens: 3, initialization: .random, seed: 7, model: model, ledger: ledger)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, logitRows: 5, ledger: ledger)
    let row = Self.row(packed: packed)
    let worst = try checkMethodGradients(
      prompt, graph: graph, row: row, tensors: [prompt.embeddings], samples: 12, seed: 3)
    #expect(prompt.embeddings.gradient.contains { $0 != 0 }, "no gradient reached the prompt")
    print("AdapterSoftPromptTests \(file) packed=\(packed): worst relative gradient error \(worst)")
  }

  /// The training graph's loss with a soft prompt equals the inference session's, which embeds the same virtual ids.
  @Test func trainingAndInferenceAgree() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let ledger = MemoryLedger()
    let prompt = try SoftPrompt(virtualTokens: 3, initialization: .random, seed: 9, model: model, ledger: ledger)
    let graph = try TrainingGraph(model: model, capacity: 16, maximumRank: 1, ledger: ledger)
    let row = Self.row(packed: false)
    let trained = try graph.loss(row, lora: nil, virtual: prompt)
    let reference = try inferenceLossSum(model, row, method: prompt)
    #expect(abs(trained.lossSum - reference) < 1e-3 * abs(reference), "\(trained.lossSum) vs \(reference)")
    // Without the provider, virtual ids are invalid input, not a crash.
    let plain = try InferenceSession(model: model, capacity: 16, ledger: ledger)
    #expect(throws: ModelError.self) { try plain.forward(row.tokens, logits: .none) }
    #expect(throws: TrainingError.self) { try graph.loss(row, lora: nil) }
  }

  /// PEFT's TEXT init: the text's tokens, truncated to N or repeated (the whole list) and truncated.
  @Test func textInitializationCopiesTokenEmbeddingsLikePEFT() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let text = "hello world"
    let ids = model.tokenizer.encode(text, parseSpecial: false)
    try #require(ids.count >= 2)
    let d = model.config.hiddenSize
    for n in [1, ids.count, 2 * ids.count + 1] {
      let prompt = try SoftPrompt(
        virtualTokens: n, initialization: .text(text), seed: 0, model: model, ledger: MemoryLedger())
      var row = [Float](repeating: 0, count: d)
      for k in 0..<n {
        model.weights.embedding.decodeRows(Int(ids[k % ids.count])..<(Int(ids[k % ids.count]) + 1), into: &row)
        #expect(Array(prompt.embeddings.value[(k * d)..<((k + 1) * d)]) == row, "virtual token \(k) of \(n)")
      }
    }
  }

  @Test func savedPromptLoadsBackAndRefusesMismatches() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    let directory = try AdapterTestSupport.scratchDirectory("prompt")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let prompt = try SoftPrompt(
      virtualTokens: 4, initialization: .sampledVocabulary, seed: 5, model: model, ledger: MemoryLedger())
    let out = directory + "/prompt"
    try prompt.save(to: out, baseModel: "base")
    let config = try TrainingJSON.read(PromptTuningAdapterConfig.self, path: out + "/adapter_config.json")
    #expect(config.peftType == "PROMPT_TUNING" && config.baseModel == "base")
    #expect(config.numVirtualTokens == 4 && config.tokenDim == model.config.hiddenSize)
    #expect(config.promptTuningInit == "SAMPLE_VOCAB" && config.promptTuningInitText == nil)
    let loaded = try AdapterLoader.load(from: out, model: model.config, ledger: MemoryLedger())
    let back = try #require(loaded as? SoftPrompt)
    #expect(Array(back.embeddings.value) == Array(prompt.embeddings.value))
    // A LoRA loader refuses it by name; a prompt of another length does not restore into this one.
    #expect {
      _ = try LoRAAdapterSet.load(from: out, model: model.config, ledger: MemoryLedger())
    } throws: { "\($0)".contains("PROMPT_TUNING") }
    let longer = try SoftPrompt(
      virtualTokens: 5, initialization: .random, seed: 1, model: model, ledger: MemoryLedger())
    #expect { try longer.restoreValues(from: out, ledger: MemoryLedger()) } throws: { "\($0)".contains("4 virtual") }
  }

  @Test func badOptionsAreRefusedBeforeAnyWork() throws {
    let model = try LanguageModel(path: Self.tiny.appendingPathComponent("llama-mixed.tiny-gguf").path)
    #expect(throws: TrainingError.self) {
      _ = try SoftPrompt(virtualTokens: 0, initialization: .random, seed: 0, model: model, ledger: MemoryLedger())
    }
    #expect(throws: TrainingError.self) {
      _ = try SoftPrompt(virtualTokens: 2, initialization: .text(""), seed: 0, model: model, ledger: MemoryLedger())
    }
  }
}
