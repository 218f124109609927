import Formats
import Foundation
public import Memory
import Quantization
import Tensor

/// Writes a model of random weights and real shapes straight into an NF4 file, for memory and speed tests at sizes no
/// downloaded model has (a ~1B Llama in a few hundred MiB). Every matrix is Gaussian (mean 0, `standardDeviation`),
/// generated, quantized and streamed to the file in chunks of `chunkElements` values, so no matrix is ever held in
/// fp32, nor even whole in NF4: besides the chunks, only one matrix's block scales are held (6 MiB for a 49152 × 2048
/// embedding). Norm weights are 1, biases 0. The file is what `NF4Converter` would write for the same Gaussian
/// weights: bitsandbytes NF4 with double quantization, the config and the tokenizer / chat template / special tokens
/// of an existing model in its metadata.
/// ref: Formats/NF4ModelFile.swift (the layout); HF LlamaConfig.initializer_range (0.02, the default std).
public enum SyntheticModel {
  public struct Options: Sendable {
    /// Seeds every tensor's values (with its name), so one seed gives one file, byte for byte.
    public var seed: UInt64 = 0
    /// Standard deviation of the Gaussian weights of every matrix, embedding and head included.
    public var standardDeviation: Float = 0.02
    public var blockSize = 64
    public var nestedBlockSize = 256
    public init() {}
  }

  public struct Result: Sendable {
    public var parameters: Int
    public var tensors: Int
    public var fileBytes: Int
    /// Bits per weight of the NF4 matrices alone (all their parts).
    public var quantizedBitsPerWeight: Double
    /// Bits per parameter of the whole file.
    public var fileBitsPerWeight: Double
  }

  /// Values generated and quantized at once, per worker: 256 KiB of fp32, sized to stay in a core's L2 cache. Part of
  /// the file's definition: chunk k of a tensor always comes from the same random stream, whatever the thread count.
  static let chunkElements = 1 << 16

  /// One tensor of the file, in `ModelWeights.named(config:)` order.
  struct Tensor {
    enum Fill {
      /// NF4 parts of Gaussian values.
      case gaussian
      /// fp32, every element this value.
      case constant(Float)
    }
    var name: String
    var shape: [Int]
    var fill: Fill
    var count: Int { shape.reduce(1, *) }
  }

  /// The tensors a model of this configuration stores, in the order `ModelWeights.named(config:)` lists them (the
  /// order the converter writes), computed from the configuration alone.
  static func tensors(config c: ModelConfig) -> [Tensor] {
    let d = c.hiddenSize
    var list = [Tensor(name: "model.embed_tokens.weight", shape: [c.vocabularySize, d], fill: .gaussian)]
    func matrix(_ prefix: String, _ target: ProjectionTarget) -> Tensor {
      let shape = target.shape(c)
      return Tensor(name: prefix + target.modulePath + ".weight", shape: [shape.out, shape.in], fill: .gaussian)
    }
    for i in 0..<c.layerCount {
      let p = "model.layers.\(i)."
      list.append(Tensor(name: p + "input_layernorm.weight", shape: [d], fill: .constant(1)))
      list += [matrix(p, .q), matrix(p, .k), matrix(p, .v)]
      if c.hasAttentionBias {
        list.append(Tensor(name: p + "self_attn.q_proj.bias", shape: [c.queryDim], fill: .constant(0)))
        list.append(Tensor(name: p + "self_attn.k_proj.bias", shape: [c.kvDim], fill: .constant(0)))
        list.append(Tensor(name: p + "self_attn.v_proj.bias", shape: [c.kvDim], fill: .constant(0)))
      }
      list.append(matrix(p, .o))
      list.append(Tensor(name: p + "post_attention_layernorm.weight", shape: [d], fill: .constant(1)))
      list += [matrix(p, .gate), matrix(p, .up), matrix(p, .down)]
    }
    list.append(Tensor(name: "model.norm.weight", shape: [d], fill: .constant(1)))
    if !c.tiedEmbeddings {
      list.append(Tensor(name: "lm_head.weight", shape: [c.vocabularySize, d], fill: .gaussian))
    }
    return list
  }

  /// Parameters of a model of this configuration (every stored element).
  public static func parameterCount(config: ModelConfig) -> Int {
    tensors(config: config).reduce(0) { $0 + $1.count }
  }

  /// Writes a random model of shape `config` to `path` (atomically), with the tokenizer, chat template and special
  /// tokens of `tokenizerSource`. `progress(done, total)` counts parameters, after each tensor.
  public static func write(
    config: ModelConfig, tokenizerFrom tokenizerSource: LanguageModel, to path: String, options: Options = .init(),
    ledger: MemoryLedger, progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> Result {
    try config.validate(path: path)
    guard options.blockSize >= 2, options.blockSize % 2 == 0, options.blockSize <= 4096,
      options.nestedBlockSize >= 1, options.nestedBlockSize <= 1 << 16
    else {
      throw ModelError.invalidConfig(path: path, reason: "block sizes must be even and at most 4096 (nested: 65536)")
    }
    guard options.standardDeviation > 0, options.standardDeviation.isFinite else {
      throw ModelError.invalidConfig(
        path: path, reason: "standard deviation \(options.standardDeviation) must be positive and finite")
    }
    guard tokenizerSource.tokenizer.vocabularySize <= config.vocabularySize else {
      throw ModelError.invalidConfig(
        path: path,
        reason:
          "the tokenizer has \(tokenizerSource.tokenizer.vocabularySize) tokens but the configuration only "
          + "\(config.vocabularySize) embeddings")
    }
    var quantization = NF4Converter.Options()
    quantization.blockSize = options.blockSize
    quantization.nestedBlockSize = options.nestedBlockSize
    let list = tensors(config: config)
    let plans = list.flatMap { tensor in
      NF4Converter.entries(name: tensor.name, shape: tensor.shape, storage: storage(tensor.fill), options: quantization)
    }
    let metadata = try fileMetadata(
      config: config, tokenizerSource: tokenizerSource, options: options, quantization: quantization)
    let writer = try SafetensorsWriter(path: path, plans: plans, metadata: metadata)
    let generator = try ChunkedGaussianQuantizer(options: options, ledger: ledger)
    let total = list.reduce(0) { $0 + $1.count }
    var done = 0
    var quantizedWeights = 0
    var quantizedBytes = 0
    for tensor in list {
      switch tensor.fill {
      case .gaussian:
        quantizedBytes += try generator.write(
          tensor, to: writer, quantization: quantization, ledger: ledger)
        quantizedWeights += tensor.count
      case .constant(let value):
        let values = [Float](repeating: value, count: tensor.count)
        try values.withUnsafeBytes { try writer.write($0) }
      }
      done += tensor.count
      progress(done, total)
    }
    try writer.finish()
    let fileBytes = fileSize(atPath: path)
    return Result(
      parameters: total, tensors: list.count, fileBytes: fileBytes,
      quantizedBitsPerWeight: quantizedWeights > 0 ? Double(quantizedBytes * 8) / Double(quantizedWeights) : 0,
      fileBitsPerWeight: Double(fileBytes * 8) / Double(max(total, 1)))
  }

  static func storage(_ fill: Tensor.Fill) -> String {
    switch fill {
    case .gaussian: "NF4"
    case .constant: "F32"
    }
  }

  /// The converter's `__metadata__` for the tokenizer's model, with this configuration in place of that model's and
  /// an `edgetune.synthetic` record of how the weights were made (readers ignore keys they do not know).
  static func fileMetadata(
    config: ModelConfig, tokenizerSource: LanguageModel, options: Options, quantization: NF4Converter.Options
  ) throws -> [(String, String)] {
    let configJSON = try HuggingFaceConfig.encoder.encode(HuggingFaceConfig(config))
    let sourceName = (tokenizerSource.path as NSString).lastPathComponent
    let synthetic =
      "{\"seed\": \(options.seed), \"standard_deviation\": \(options.standardDeviation), "
      + "\"tokenizer_from\": \(JSONText.quoted(sourceName))}"
    var pairs = try NF4Converter.fileMetadata(tokenizerSource, options: quantization).map { key, value in
      switch key {
      case "edgetune.config": (key, String(decoding: configJSON, as: UTF8.self))
      case "edgetune.source": (key, "synthetic")
      default: (key, value)
      }
    }
    pairs.append(("edgetune.synthetic", synthetic))
    return pairs
  }
}
