import Foundation
import Memory
import Testing

@testable import Model

/// Fixtures/tiny/golden.json, written with the tiny models beside it by Tools/reference/make_tiny_models.py
/// (seeded random weights; numpy float64 forward, independent of the Swift side).
struct TinyGolden: Decodable, Sendable {
  struct Chat: Decodable, Sendable {
    var messages: [ChatMessage]
    var rendered: String
  }
  struct Config: Decodable, Sendable {
    var architecture: String
    var hiddenSize: Int
    var intermediateSize: Int
    var layerCount: Int
    var headCount: Int
    var kvHeadCount: Int
    var headDim: Int
    var vocabularySize: Int
    var contextLength: Int
    var ropeTheta: Double
    var rmsNormEpsilon: Double
    enum CodingKeys: String, CodingKey {
      case architecture
      case hiddenSize = "hidden_size"
      case intermediateSize = "intermediate_size"
      case layerCount = "layer_count"
      case headCount = "head_count"
      case kvHeadCount = "kv_head_count"
      case headDim = "head_dim"
      case vocabularySize = "vocabulary_size"
      case contextLength = "context_length"
      case ropeTheta = "rope_theta"
      case rmsNormEpsilon = "rms_norm_epsilon"
    }
  }
  struct Greedy: Decodable, Sendable {
    var promptIDs: [Int32]
    var generatedIDs: [Int32]
    enum CodingKeys: String, CodingKey {
      case promptIDs = "prompt_ids"
      case generatedIDs = "generated_ids"
    }
  }
  struct Entry: Decodable, Sendable {
    var name: String
    /// Files holding these weights (relative to Fixtures/tiny); all must give the same logits.
    var paths: [String]
    var config: Config
    var textIDs: [Int32]
    var tokenIDs: [Int32]
    /// (tokens, vocabulary)
    var logits: [[Float]]
    var greedy: Greedy
    enum CodingKeys: String, CodingKey {
      case name, paths, config, logits, greedy
      case textIDs = "text_ids"
      case tokenIDs = "token_ids"
    }
  }
  var text: String
  var chat: Chat
  var models: [Entry]
}

/// Tiny seeded models the real-model tests do not cover: the qwen2 architecture (q/k/v biases; a Hugging Face
/// directory and an un-permuted GGUF of the same weights), and a llama GGUF whose matrices use every legacy block type
/// plus F16, BF16 and F32, with 6 heads of 16 on a hidden size of 64 (query width ≠ hidden size). No network, no real
/// model: these always run.
@Suite struct TinyModelTests {
  /// Per-logit tolerance, relative to max(|reference|, 1). The reference is float64 on the same (dequantized) weights,
  /// so only fp32 rounding differs; measured worst: 6.2e-6 (qwen2-hf, qwen2.tiny-gguf) and 6.1e-6 (llama-mixed.tiny-gguf).
  static let relativeTolerance: Float = 1e-4

  static let directory = ModelFixtures.directory.appendingPathComponent("tiny")
  static let golden: Result<TinyGolden, any Error> = Result {
    let data = try Data(contentsOf: directory.appendingPathComponent("golden.json"))
    return try JSONDecoder().decode(TinyGolden.self, from: data)
  }
  static let files = ["qwen2-hf", "qwen2.tiny-gguf", "llama-mixed.tiny-gguf"]

  /// The model stored at `file` and its golden entry.
  static func load(_ file: String) throws -> (LanguageModel, TinyGolden.Entry) {
    let entry = try #require(try golden.get().models.first { $0.paths.contains(file) }, "no golden for \(file)")
    return (try LanguageModel(path: directory.appendingPathComponent(file).path), entry)
  }

  @Test(arguments: files) func configMatchesTheFile(file: String) throws {
    let (model, golden) = try Self.load(file)
    let c = model.config
    let expected = golden.config
    let format: LanguageModel.SourceFormat = file.hasSuffix("gguf") ? .gguf : .safetensors
    #expect(model.format == format)
    #expect(c.architecture.rawValue == expected.architecture)
    #expect(c.hasAttentionBias == (expected.architecture == "qwen2"))
    #expect(!c.tiedEmbeddings)
    let shape: [Int] = [
      c.hiddenSize, c.intermediateSize, c.layerCount, c.headCount, c.kvHeadCount, c.headDim, c.rotaryDim,
    ]
    let expectedShape: [Int] = [
      expected.hiddenSize, expected.intermediateSize, expected.layerCount, expected.headCount, expected.kvHeadCount,
      expected.headDim, expected.headDim,
    ]
    #expect(shape == expectedShape)
    #expect(c.vocabularySize == expected.vocabularySize)
    #expect(c.contextLength == expected.contextLength)
    #expect(c.ropeTheta == expected.ropeTheta)
    #expect(c.rmsNormEpsilon == Float(expected.rmsNormEpsilon))
    for layer in model.weights.layers {
      #expect((layer.queryBias != nil) == c.hasAttentionBias)
      #expect((layer.keyBias != nil) == c.hasAttentionBias)
      #expect((layer.valueBias != nil) == c.hasAttentionBias)
    }
    #expect(model.weights.head.name != model.weights.embedding.name)
  }

  @Test(arguments: files) func tokenizerAndTemplateMatchTheReference(file: String) throws {
    let (model, golden) = try Self.load(file)
    let all = try Self.golden.get()
    #expect(model.tokenizer.encode(all.text) == golden.textIDs)
    #expect(model.tokenizer.decode(golden.textIDs) == all.text)
    #expect(model.chatTemplate.render(all.chat.messages, addGenerationPrompt: true) == all.chat.rendered)
  }

  @Test(arguments: files) func logitsMatchTheReferenceAtEveryPosition(file: String) throws {
    let (model, golden) = try Self.load(file)
    let session = try InferenceSession(
      model: model, capacity: golden.tokenIDs.count, chunk: 16, ledger: MemoryLedger())
    var worst: Float = 0
    var positions = 0
    try session.forward(golden.tokenIDs, logits: .all) { position, logits in
      positions += 1
      let expected = golden.logits[position]
      #expect(logits.count == expected.count)
      for (value, reference) in zip(logits, expected) {
        worst = max(worst, abs(value - reference) / max(abs(reference), 1))
      }
    }
    #expect(positions == golden.tokenIDs.count)
    print("TinyModelTests: \(file): worst relative logit error \(worst)")
    #expect(worst <= Self.relativeTolerance, "worst relative logit error \(worst)")
  }

  @Test(arguments: files) func greedyContinuationIsIdentical(file: String) throws {
    let (model, golden) = try Self.load(file)
    let greedy = golden.greedy
    let session = try InferenceSession(
      model: model, capacity: greedy.promptIDs.count + greedy.generatedIDs.count, ledger: MemoryLedger())
    var generator = TextGenerator(session: session, sampler: Sampler(temperature: 0), stopTokens: [])
    let (ids, _) = try generator.generate(prompt: greedy.promptIDs, maxTokens: greedy.generatedIDs.count)
    #expect(ids == greedy.generatedIDs)
  }

  @Test(arguments: files) func chunksOfThreeEqualOnePass(file: String) throws {
    let (model, golden) = try Self.load(file)
    func allLogits(chunk: Int) throws -> [Float] {
      let session = try InferenceSession(
        model: model, capacity: golden.tokenIDs.count, chunk: chunk, ledger: MemoryLedger())
      var out: [Float] = []
      try session.forward(golden.tokenIDs, logits: .all) { _, logits in out += logits }
      return out
    }
    let whole = try allLogits(chunk: 16)
    let pieces = try allLogits(chunk: 3)
    #expect(whole.count == golden.tokenIDs.count * model.config.vocabularySize)
    // Only rounding differs (BLAS blocks a 3-row product differently from a 12-row one): measured worst 6.9e-6
    // relative (qwen2) and 5.5e-6 (llama-mixed), the same size as the error against the float64 reference.
    let difference = zip(whole, pieces).map { abs($0 - $1) / max(abs($0), 1) }.max() ?? .infinity
    print("TinyModelTests: \(file): chunk 3 vs one pass, worst relative difference \(difference)")
    #expect(difference <= 3e-5)
  }

  // MARK: - Refused models (variants of the fixtures built in a temporary directory)

  @Test func unknownModelTypeIsRefused() throws {
    try withVariant(of: "qwen2-hf") { path in
      try editJSON(path + "/config.json") { $0["model_type"] = "gpt_neox" }
      #expect(throws: ModelError.unsupportedArchitecture(path: path + "/config.json", architecture: "gpt_neox")) {
        _ = try LanguageModel(path: path)
      }
    }
  }

  @Test func headsThatAreNotAMultipleOfKVHeadsAreRefused() throws {
    try withVariant(of: "qwen2-hf") { path in
      try editJSON(path + "/config.json") { $0["num_key_value_heads"] = 3 }
      #expect(
        throws: ModelError.invalidConfig(
          path: path + "/config.json", reason: "4 heads are not a multiple of 3 kv heads")
      ) { _ = try LanguageModel(path: path) }
    }
    try withVariant(of: "qwen2.tiny-gguf") { path in
      try patchGGUFUInt32(path, key: "qwen2.attention.head_count_kv", from: 2, to: 3)
      #expect(throws: ModelError.invalidConfig(path: path, reason: "4 heads are not a multiple of 3 kv heads")) {
        _ = try LanguageModel(path: path)
      }
    }
  }

  @Test func aTensorOfTheWrongShapeIsNamed() throws {
    // safetensors: k_proj of layer 1 stored as (32, 16) instead of (16, 32); same bytes, so only the shape is wrong.
    try withVariant(of: "qwen2-hf") { path in
      let name = "model.layers.1.self_attn.k_proj.weight"
      let file = path + "/model.safetensors"
      var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
      let entry = "\"\(name)\":{\"dtype\":\"F32\",\"shape\":"
      let range = try #require(bytes.range(of: Data((entry + "[16,32]").utf8)))
      bytes.replaceSubrange(range, with: Data((entry + "[32,16]").utf8))
      try bytes.write(to: URL(fileURLWithPath: file))
      #expect(throws: ModelError.tensorShape(path: file, tensor: name, expected: [16, 32], found: [32, 16])) {
        _ = try LanguageModel(path: path)
      }
    }
    // GGUF: metadata says a wider MLP than the tensors hold; the first MLP matrix is named by its GGUF name.
    try withVariant(of: "llama-mixed.tiny-gguf") { path in
      try patchGGUFUInt32(path, key: "llama.feed_forward_length", from: 96, to: 128)
      #expect(
        throws: ModelError.tensorShape(
          path: path, tensor: "blk.0.ffn_gate.weight", expected: [128, 64], found: [96, 64])
      ) { _ = try LanguageModel(path: path) }
    }
  }

  /// Copies the fixture `name` into a fresh temporary directory, runs `body` with the copy's path, then removes it.
  private func withVariant(of name: String, _ body: (String) throws -> Void) throws {
    let manager = FileManager.default
    let root = manager.temporaryDirectory.appendingPathComponent("edgetune-tiny-\(UUID().uuidString)")
    try manager.createDirectory(at: root, withIntermediateDirectories: true)
    defer { try? manager.removeItem(at: root) }
    let copy = root.appendingPathComponent(name)
    try manager.copyItem(at: Self.directory.appendingPathComponent(name), to: copy)
    try body(copy.path)
  }

  private func editJSON(_ path: String, _ edit: (inout [String: Any]) -> Void) throws {
    let url = URL(fileURLWithPath: path)
    var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    edit(&object)
    try JSONSerialization.data(withJSONObject: object).write(to: url)
  }

  /// Rewrites a uint32 metadata value in place: GGUF stores a key as (u64 length, bytes), then the u32 type tag
  /// (4 = UINT32), then the value, all little-endian. ref: ggml docs/gguf.md.
  private func patchGGUFUInt32(_ path: String, key: String, from old: UInt32, to new: UInt32) throws {
    let url = URL(fileURLWithPath: path)
    var bytes = try Data(contentsOf: url)
    func le<T: FixedWidthInteger>(_ value: T) -> Data { withUnsafeBytes(of: value.littleEndian) { Data($0) } }
    let pattern = le(UInt64(key.utf8.count)) + Data(key.utf8) + le(UInt32(4))
    let range = try #require(bytes.range(of: pattern + le(old)), "\(key) = \(old) not found")
    bytes.replaceSubrange(range, with: pattern + le(new))
    try bytes.write(to: url)
  }
}
