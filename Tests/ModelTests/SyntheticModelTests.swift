import Formats
import Foundation
import Memory
import Quantization
import Testing

@testable import Model

/// Synthetic models (random Gaussian weights, real shapes, written straight as NF4) on tiny shapes: the file opens
/// as a model of the requested configuration with the source's tokenizer, its checksums hold, its weights are the
/// bitsandbytes quantization of the Gaussian values it promises, and a forward pass gives finite logits.
@Suite struct SyntheticModelTests {
  /// A tiny Llama with the llama-mixed fixture's tokenizer (298 tokens). The gate/up/down matrices (160 × 512) span
  /// two generation chunks of 65536 values and the embedding and head (298 × 512) three, the last one partial.
  static func tinyConfig(vocabularySize: Int = 298) throws -> ModelConfig {
    try ModelConfig.llama(
      vocabularySize: vocabularySize, hiddenSize: 512, intermediateSize: 160, layerCount: 2, headCount: 8,
      kvHeadCount: 2, contextLength: 64)
  }

  static func source(_ file: String = "llama-mixed.tiny-gguf") throws -> LanguageModel {
    try LanguageModel(path: TinyModelTests.directory.appendingPathComponent(file).path)
  }

  /// Runs `body` with a temporary directory, removed afterwards.
  static func inTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let manager = FileManager.default
    let directory = manager.temporaryDirectory.appendingPathComponent("edgetune-synthetic-\(UUID().uuidString)").path
    try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? manager.removeItem(atPath: directory) }
    return try body(directory)
  }

  /// Writes a synthetic model into a temporary directory and runs `body` with its path and the writer's result.
  static func withSynthetic<T>(
    config: ModelConfig? = nil, source: LanguageModel? = nil, options: SyntheticModel.Options = .init(),
    _ body: (String, SyntheticModel.Result) throws -> T
  ) throws -> T {
    try inTemporaryDirectory { directory in
      let path = directory + "/synthetic.nf4"
      let result = try SyntheticModel.write(
        config: try config ?? tinyConfig(), tokenizerFrom: try source ?? Self.source(), to: path, options: options,
        ledger: MemoryLedger())
      return try body(path, result)
    }
  }

  /// Expects the stored parts of `name` to be the bitsandbytes quantization (NF4 in blocks of 64, double quantization
  /// in groups of 256) of the values its seeded streams give, generated here whole in one pass on this thread.
  static func expectReferenceParts(
    _ file: SafetensorsFile, name: String, shape: [Int], options: SyntheticModel.Options
  ) throws {
    let layout = NF4Quantizer.Layout(count: shape.reduce(1, *))
    var values = [Float](repeating: 0, count: layout.count)
    let stream = SyntheticModel.streamSeed(options.seed, name: name)
    let chunk = SyntheticModel.chunkElements / layout.blockSize * layout.blockSize
    var start = 0
    while start < layout.count {
      var random = SeededGenerator(seed: SyntheticModel.mix(stream, UInt64(start / chunk)))
      let n = min(chunk, layout.count - start)
      values.withUnsafeMutableBufferPointer {
        SyntheticModel.fillGaussian(
          $0.baseAddress! + start, count: n, standardDeviation: options.standardDeviation, random: &random)
      }
      start += n
    }
    #expect(layout.count > chunk, "\(name) should span more than one chunk")
    var packed = [UInt8](repeating: 0, count: layout.packedBytes)
    var absmax = [Float](repeating: 0, count: layout.blocks)
    var q = [UInt8](repeating: 0, count: layout.blocks)
    var nested = [Float](repeating: 0, count: layout.nestedBlocks)
    let bad = NF4Quantizer.quantize(
      values, count: layout.count, blockSize: layout.blockSize, blocks: 0..<layout.blocks, packed: &packed,
      absmax: &absmax)
    #expect(bad == nil)
    let offset = NF4Quantizer.doubleQuantize(
      absmax: absmax, blocks: layout.blocks, nestedBlockSize: layout.nestedBlockSize, q: &q, nestedAbsmax: &nested)
    #expect(Array(try file.tensor(name).bytes) == packed, "\(name): codes")
    #expect(Array(try file.tensor(name + ".absmax").bytes) == q, "\(name): 8-bit scales")
    #expect(Array(try file.tensor(name + ".nested_absmax").bytes) == nested.withUnsafeBytes(Array.init), "\(name)")
    let state = NF4Converter.quantStateJSON(shape: shape, options: .init(), offset: offset)
    #expect(Array(try file.tensor(name + NF4ModelFile.quantStateSuffix).bytes) == state, "\(name): quant state")
  }

  // MARK: - The file

  @Test func defaultsAreTinyLlamaShapes() throws {
    // TinyLlama-1.1B (vocabulary 32000) has 1,100,048,384 parameters; SmolLM2's 49152 tokens make it 1.17B.
    #expect(SyntheticModel.parameterCount(config: try ModelConfig.llama(vocabularySize: 32000)) == 1_100_048_384)
    let c = try ModelConfig.llama(vocabularySize: 49152)
    #expect(SyntheticModel.parameterCount(config: c) == 1_170_302_976)
    let shape: [Int] = [c.hiddenSize, c.intermediateSize, c.layerCount, c.headCount, c.kvHeadCount, c.headDim]
    #expect(shape == [2048, 5632, 22, 32, 4, 64])
    #expect(c.architecture == .llama && !c.tiedEmbeddings && c.ropeTheta == 10000 && c.rmsNormEpsilon == 1e-5)
  }

  /// (tokenizer fixture, architecture): the llama factory, and the qwen2 fixture's own configuration (q/k/v biases).
  @Test(arguments: ["llama-mixed.tiny-gguf", "qwen2-hf"])
  func opensAsTheRequestedModel(file: String) throws {
    let source = try Self.source(file)
    let config = file == "qwen2-hf" ? source.config : try Self.tinyConfig()
    try Self.withSynthetic(config: config, source: source) { path, result in
      let model = try LanguageModel(path: path)
      #expect(model.format == .nf4)
      #expect(model.config == config)
      // Every tensor the loader reads, in the order and shapes the converter writes them.
      let listed = model.weights.named(config: model.config)
      let planned = SyntheticModel.tensors(config: config)
      #expect(listed.map(\.name) == planned.map(\.name))
      #expect(listed.map(\.shape) == planned.map(\.shape))
      #expect(result.parameters == planned.reduce(0) { $0 + $1.count })
      #expect(result.tensors == planned.count)
      let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
      #expect(result.fileBytes == size)
      // All parts of the NF4 matrices over their weights: at least 4 bits + an 8-bit scale per 64 + an fp32 group
      // scale per 64·256 = 4.127, plus the per-tensor tables and quant state (which dominate on tiny matrices).
      let nf4 = try #require(model.nf4File)
      let suffixes = [
        "", ".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map", NF4ModelFile.quantStateSuffix,
      ]
      let matrices = planned.filter { nf4.isQuantized($0.name) }
      #expect(matrices.count == 7 * config.layerCount + 2)
      let partBytes = try matrices.flatMap { m in try suffixes.map { try nf4.tensor(m.name + $0).byteCount } }
      let weights = matrices.reduce(0) { $0 + $1.count }
      #expect(result.quantizedBitsPerWeight == Double(partBytes.reduce(0, +) * 8) / Double(weights))
      #expect(result.quantizedBitsPerWeight > 4.127)
      // Norm weights 1, biases 0, stored as F32.
      for layer in model.weights.layers {
        #expect(layer.attentionNorm.allSatisfy { $0 == 1 } && layer.mlpNorm.allSatisfy { $0 == 1 })
        for bias in [layer.queryBias, layer.keyBias, layer.valueBias] {
          #expect((bias != nil) == config.hasAttentionBias)
          #expect(bias?.allSatisfy { $0 == 0 } ?? true)
        }
      }
      #expect(model.weights.finalNorm.allSatisfy { $0 == 1 })
      // The tokenizer, template and special tokens are the source's.
      let text = "Hello, synthetic world! <|im_end|>"
      #expect(model.tokenizer.vocabularySize == source.tokenizer.vocabularySize)
      #expect(model.tokenizer.encode(text) == source.tokenizer.encode(text))
      #expect(model.eosID == source.eosID && model.paddingID == source.paddingID)
      let messages = [ChatMessage(role: "user", content: "hi")]
      #expect(
        model.chatTemplate.render(messages, addGenerationPrompt: true)
          == source.chatTemplate.render(messages, addGenerationPrompt: true))
      // Checksums of every part, as `edgetune inspect --verify` checks them.
      #expect(try nf4.verifyChecksums() == nf4.file.entries.count)
      #expect(nf4.file.metadata["edgetune.source"] == "synthetic")
      #expect(nf4.file.metadata["edgetune.synthetic"]?.contains("\"seed\": 0") == true)
    }
  }

  @Test(arguments: [Float(0.02), 0.5])
  func weightsHaveTheRequestedStatistics(std: Float) throws {
    var options = SyntheticModel.Options()
    options.standardDeviation = std
    try Self.withSynthetic(options: options) { path, _ in
      let model = try LanguageModel(path: path)
      var all = Moments()
      let matrices =
        [model.weights.embedding, model.weights.head] + model.weights.layers.flatMap(\.matrices)
      for matrix in matrices {
        var moments = Moments()
        for value in decodedValues(matrix) { moments.add(Double(value), std: Double(std)) }
        all.merge(moments)
        // The smallest matrices (k, v: 128 × 512) estimate σ within ~1% (1/√(2n)); the mean within σ/√n ≈ 0.4%σ.
        #expect(abs(moments.mean) < 0.02 * Double(std), "\(matrix.name): mean \(moments.mean)")
        #expect(abs(moments.std / Double(std) - 1) < 0.05, "\(matrix.name): std \(moments.std)")
      }
      // Pooled over ~2.1M values: NF4 keeps σ within ~1% (its error is ~0.09σ and nearly orthogonal to the value)
      // and the Gaussian's shape: ~68.3% of values within ±σ (measured 0.685 for seed 0).
      print(
        "SyntheticModelTests: std \(std): decoded mean \(all.mean), std \(all.std), within ±σ \(all.withinOneSigma)")
      #expect(abs(all.mean) < 0.002 * Double(std))
      #expect(abs(all.std / Double(std) - 1) < 0.015)
      #expect(abs(all.withinOneSigma - 0.683) < 0.03)
    }
  }

  @Test func storesTheNF4QuantizationOfTheSeededGaussians() throws {
    var options = SyntheticModel.Options()
    options.seed = 7
    try Self.withSynthetic(options: options) { path, _ in
      let file = try NF4ModelFile(path: path)
      for (name, shape) in [
        ("model.embed_tokens.weight", [298, 512]), ("model.layers.1.mlp.down_proj.weight", [512, 160]),
      ] {
        #expect(try file.quantized(name).shape == shape)
        try Self.expectReferenceParts(file.file, name: name, shape: shape, options: options)
      }
    }
  }

  @Test func streamsATensorOfSeveralRoundsAndAnOddLength() throws {
    var options = SyntheticModel.Options()
    options.seed = 3
    try Self.inTemporaryDirectory { directory in
      let ledger = MemoryLedger()
      let generator = try ChunkedGaussianQuantizer(options: options, ledger: ledger)
      // Two rounds, the second of one partial chunk whose last block is partial and whose count is odd.
      let count = generator.roundChunks * SyntheticModel.chunkElements + 34_465
      let tensor = SyntheticModel.Tensor(name: "odd", shape: [count], fill: .gaussian)
      let quantization = NF4Converter.Options()
      let plans = NF4Converter.entries(name: tensor.name, shape: tensor.shape, storage: "NF4", options: quantization)
      let path = directory + "/odd.safetensors"
      let writer = try SafetensorsWriter(path: path, plans: plans, metadata: [])
      let bytes = try generator.write(tensor, to: writer, quantization: quantization, ledger: ledger)
      try writer.finish()
      #expect(bytes == plans.reduce(0) { $0 + $1.byteCount })
      // Never the tensor in fp32 (4.2 MiB): the workers' chunks and the round's codes (1 MiB at 2 workers), scales.
      let peak = ledger.snapshot().peakBytes
      #expect(peak < count * 4 / 2, "ledger peak \(peak)")
      try Self.expectReferenceParts(
        try SafetensorsFile(path: path), name: tensor.name, shape: tensor.shape, options: options)
    }
  }

  @Test func forwardPassGivesFiniteLogits() throws {
    try Self.withSynthetic { path, _ in
      let model = try LanguageModel(path: path)
      let ids = model.encodePrompt("The quick brown fox jumps over the lazy dog.")
      let rows = try allLogits(model, ids)
      #expect(rows.count == ids.count)
      var moments = Moments()
      for row in rows {
        #expect(row.count == model.config.vocabularySize)
        #expect(row.allSatisfy { $0.isFinite })
        for value in row { moments.add(Double(value), std: 1) }
      }
      // Final RMSNorm gives rows of RMS 1; a head of std 0.02 then gives logits of std ≈ 0.02 · √512 ≈ 0.45.
      #expect(moments.std > 0.2 && moments.std < 1, "logit std \(moments.std)")
    }
  }

  // MARK: - Determinism

  @Test func sameSeedGivesTheSameBytesAndAnotherSeedOtherWeights() throws {
    func write(seed: UInt64, in directory: String) throws -> String {
      var options = SyntheticModel.Options()
      options.seed = seed
      let path = directory + "/seed-\(seed)-\(UUID().uuidString).nf4"
      _ = try SyntheticModel.write(
        config: try Self.tinyConfig(), tokenizerFrom: try Self.source(), to: path, options: options,
        ledger: MemoryLedger())
      return path
    }
    try Self.inTemporaryDirectory { directory in
      let first = try write(seed: 1, in: directory)
      let again = try write(seed: 1, in: directory)
      let other = try write(seed: 2, in: directory)
      #expect(try Data(contentsOf: URL(fileURLWithPath: first)) == Data(contentsOf: URL(fileURLWithPath: again)))
      let a = try NF4ModelFile(path: first)
      let b = try NF4ModelFile(path: other)
      #expect(a.file.entries.map(\.name) == b.file.entries.map(\.name))
      for entry in a.file.entries where a.isQuantized(entry.name) {
        #expect(Array(try a.tensor(entry.name).bytes) != Array(try b.tensor(entry.name).bytes), "\(entry.name)")
      }
      #expect(Array(try a.tensor("model.norm.weight").bytes) == Array(try b.tensor("model.norm.weight").bytes))
    }
  }

  @Test func tensorValuesDependOnlyOnSeedAndName() throws {
    // Layer 0 of a 1-layer and of a 2-layer model of the same widths holds the same weights.
    let one = try ModelConfig.llama(
      vocabularySize: 298, hiddenSize: 64, intermediateSize: 96, layerCount: 1, headCount: 4, kvHeadCount: 2,
      contextLength: 64)
    var two = one
    two.layerCount = 2
    try Self.withSynthetic(config: one) { pathOne, _ in
      try Self.withSynthetic(config: two) { pathTwo, _ in
        let a = try NF4ModelFile(path: pathOne)
        let b = try NF4ModelFile(path: pathTwo)
        for name in ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight", "lm_head.weight"]
        {
          #expect(Array(try a.tensor(name).bytes) == Array(try b.tensor(name).bytes), "\(name)")
        }
      }
    }
  }

  // MARK: - Errors

  @Test func rejectsInconsistentShapes() throws {
    #expect(throws: ModelError.self) { try ModelConfig.llama(vocabularySize: 298, headCount: 32, kvHeadCount: 5) }
    #expect(throws: ModelError.self) { try ModelConfig.llama(vocabularySize: 298, hiddenSize: 100, headCount: 32) }
    #expect(throws: ModelError.self) { try ModelConfig.llama(vocabularySize: 298, layerCount: 0) }
    #expect(throws: ModelError.self) { try ModelConfig.llama(vocabularySize: 298, headCount: 0) }
    try Self.inTemporaryDirectory { directory in
      // A vocabulary smaller than the tokenizer's, and a non-positive std: nothing is written.
      let path = directory + "/bad.nf4"
      #expect(throws: ModelError.self) {
        try SyntheticModel.write(
          config: try Self.tinyConfig(vocabularySize: 100), tokenizerFrom: try Self.source(), to: path,
          ledger: MemoryLedger())
      }
      var options = SyntheticModel.Options()
      options.standardDeviation = 0
      #expect(throws: ModelError.self) {
        try SyntheticModel.write(
          config: try Self.tinyConfig(), tokenizerFrom: try Self.source(), to: path, options: options,
          ledger: MemoryLedger())
      }
      let left = try FileManager.default.contentsOfDirectory(atPath: directory)
      #expect(left.isEmpty, "left behind: \(left)")
    }
  }
}

/// Mean, standard deviation and the share within ±σ (of a given σ), accumulated in Double.
private struct Moments {
  var count = 0
  var sum = 0.0
  var sumOfSquares = 0.0
  var withinCount = 0

  mutating func add(_ value: Double, std: Double) {
    count += 1
    sum += value
    sumOfSquares += value * value
    if abs(value) <= std { withinCount += 1 }
  }

  mutating func merge(_ other: Moments) {
    count += other.count
    sum += other.sum
    sumOfSquares += other.sumOfSquares
    withinCount += other.withinCount
  }

  var mean: Double { sum / Double(max(count, 1)) }
  var std: Double { max(0, sumOfSquares / Double(max(count, 1)) - mean * mean).squareRoot() }
  var withinOneSigma: Double { Double(withinCount) / Double(max(count, 1)) }
}
