import Foundation
import Memory
import Testing

@testable import Model

/// The same weights from a GGUF file (llama.cpp's permuted Q/K rows, Q4_1 blocks) and from a float32 Hugging Face
/// copy written independently by Tools/reference/make_hf_copy.py must give the same logits: this checks the Q/K
/// un-permutation, the name mapping and the safetensors path.
@Suite(.serialized)
struct FormatEquivalenceTests {
  static let prompt = "<|im_start|>user\nName three colors of the rainbow.<|im_end|>\n<|im_start|>assistant\n"

  func logits(_ model: LanguageModel, _ ids: [Int32]) throws -> [[Float]] {
    let session = try InferenceSession(model: model, capacity: ids.count, chunk: 32, ledger: MemoryLedger())
    var rows: [[Float]] = []
    try session.forward(ids, logits: .all) { _, logits in rows.append(Array(logits)) }
    return rows
  }

  func compare(_ path: String) throws {
    let gguf = try ModelFixtures.ggufModel()
    let hf = try LanguageModel(path: path)
    #expect(hf.format == .safetensors)
    // The configuration matches field for field; the norm epsilon only to float32 (GGUF stores it as one).
    var hfConfig = hf.config
    #expect(abs(hfConfig.rmsNormEpsilon - gguf.config.rmsNormEpsilon) <= 1e-6 * abs(gguf.config.rmsNormEpsilon))
    hfConfig.rmsNormEpsilon = gguf.config.rmsNormEpsilon
    #expect(hfConfig == gguf.config)
    let ids = gguf.encodePrompt(Self.prompt)
    #expect(hf.encodePrompt(Self.prompt) == ids, "tokenizer.json and GGUF vocabularies disagree")
    let a = try logits(gguf, ids)
    let b = try logits(hf, ids)
    var worst: Float = 0
    for (x, y) in zip(a, b) { for (u, v) in zip(x, y) { worst = max(worst, abs(u - v)) } }
    // Both decode the same Q4_1 values to fp32 (the copy holds them exactly); only the rms epsilon as written in
    // config.json (1e-5 vs the GGUF's 9.99999974e-6) and summation order differ.
    #expect(worst < 2e-3, "max |logit difference| \(worst)")
  }

  @Test(.enabled(if: ModelFixtures.haveHFCopy, "no Hugging Face copy (Tools/test makes it)"))
  func singleFileCopyGivesSameLogits() throws { try compare(ModelFixtures.hfCopyPath) }

  @Test(.enabled(if: ModelFixtures.haveShardedCopy, "no sharded Hugging Face copy (Tools/test makes it)"))
  func shardedCopyGivesSameLogits() throws { try compare(ModelFixtures.hfShardedCopyPath) }
}
