import Foundation
import Memory
import Testing

@testable import Model

/// The forward pass against the independent numpy reference (Tools/reference/llama_reference.py), on the real model.
@Suite(.enabled(if: ModelFixtures.haveGGUF, "SmolLM2 GGUF not fetched (run Tools/fetch-model)"), .serialized)
struct ReferenceForwardTests {
  /// Per-logit tolerance, relative to max(|reference|, 1): the reference runs in float64 on the same dequantized
  /// weights; our fp32 forward over 30 layers differs by rounding only (measured max ≈ 2e-5 relative).
  static let relativeTolerance: Float = 1e-3

  @Test func chatPromptRendersAndTokenizesLikeTheReference() throws {
    let model = try ModelFixtures.ggufModel()
    let golden = try ModelFixtures.reference.get()
    let rendered = model.chatTemplate.render(golden.chat.messages, addGenerationPrompt: true)
    #expect(rendered == golden.chat.rendered)
    #expect(model.encodePrompt(rendered) == golden.chat.tokenIDs)
  }

  @Test func logitsMatchReferenceAtEveryPosition() throws {
    let model = try ModelFixtures.ggufModel()
    let chat = try ModelFixtures.reference.get().chat
    let session = try InferenceSession(model: model, capacity: chat.tokenIDs.count, chunk: 16, ledger: MemoryLedger())
    var worst: Float = 0
    var positions = 0
    try session.forward(chat.tokenIDs, logits: .all) { position, logits in
      positions += 1
      for (k, id) in chat.sampleIDs.enumerated() {
        let expected = chat.logits[position][k]
        worst = max(worst, abs(logits[id] - expected) / max(abs(expected), 1))
      }
      for pair in chat.top[position] {
        let expected = Float(pair[1])
        worst = max(worst, abs(logits[Int(pair[0])] - expected) / max(abs(expected), 1))
      }
      #expect(argmax(logits) == Int(chat.top[position][0][0]), "argmax differs at position \(position)")
      let lse = logSumExpForTest(logits)
      #expect(
        abs(lse - chat.logsumexp[position]) <= 1e-3 * max(abs(chat.logsumexp[position]), 1), "logsumexp at \(position)")
    }
    #expect(positions == chat.tokenIDs.count)
    print("ReferenceForwardTests: worst relative logit error \(worst) over \(positions) positions")
    #expect(worst <= Self.relativeTolerance, "worst relative logit error \(worst)")
  }

  @Test func chunkingDoesNotChangeLogits() throws {
    // The same prompt in chunks of 5 through the KV cache must equal one pass (only rounding differs).
    let model = try ModelFixtures.ggufModel()
    let ids = try ModelFixtures.reference.get().chat.tokenIDs
    func lastLogits(chunk: Int) throws -> [Float] {
      let session = try InferenceSession(model: model, capacity: ids.count, chunk: chunk, ledger: MemoryLedger())
      var out: [Float] = []
      try session.forward(ids, logits: .last) { _, logits in out = Array(logits) }
      return out
    }
    let whole = try lastLogits(chunk: 64)
    let pieces = try lastLogits(chunk: 5)
    let diff = zip(whole, pieces).map { abs($0 - $1) }.max()!
    #expect(diff < 1e-3)
  }

  @Test func greedyGenerationIsIdentical() throws {
    let model = try ModelFixtures.ggufModel()
    let greedy = try ModelFixtures.reference.get().greedy
    let session = try InferenceSession(
      model: model, capacity: greedy.promptIDs.count + greedy.generatedIDs.count, ledger: MemoryLedger())
    var generator = TextGenerator(session: session, sampler: Sampler(temperature: 0), stopTokens: [])
    let (ids, _) = try generator.generate(prompt: greedy.promptIDs, maxTokens: greedy.generatedIDs.count)
    #expect(ids == greedy.generatedIDs)
    #expect(model.tokenizer.decode(ids) == greedy.generatedText)
  }

  @Test func perplexityMatchesToFourSignificantDigits() throws {
    let model = try ModelFixtures.ggufModel()
    let eval = try ModelFixtures.reference.get().eval
    let text = try String(contentsOf: ModelFixtures.directory.appendingPathComponent(eval.textFile), encoding: .utf8)
    let ids = model.encodePrompt(text)
    #expect(ids.count == eval.tokens)
    let session = try InferenceSession(model: model, capacity: eval.context, ledger: MemoryLedger())
    let result = try evaluatePerplexity(ids: ids, window: eval.context, session: session)
    #expect(result.predicted == eval.predicted)
    #expect(
      abs(result.perplexity - eval.perplexity) / eval.perplexity < 5e-5,
      "perplexity \(result.perplexity) vs \(eval.perplexity)")
    #expect(abs(result.meanLoss - eval.meanLoss) < 1e-4)
  }

  @Test func contextOverflowIsAnError() throws {
    let model = try ModelFixtures.ggufModel()
    let session = try InferenceSession(model: model, capacity: 4, ledger: MemoryLedger())
    #expect(throws: ModelError.contextExceeded(tokens: 5, limit: 4)) {
      try session.forward([1, 2, 3, 4, 5], logits: .none)
    }
    #expect(throws: ModelError.invalidTokenID(id: 49152, vocabularySize: 49152)) {
      try session.forward([49152], logits: .none)
    }
  }

  private func logSumExpForTest(_ x: UnsafeBufferPointer<Float>) -> Double {
    let m = Double(x.max()!)
    return m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
  }
}
