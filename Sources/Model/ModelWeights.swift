internal import Formats
import Quantization

/// The frozen weights of one transformer block, in Hugging Face layout. Matrices are read through `FrozenMatrix`
/// (decoded tile by tile, never whole); norm vectors and biases are small and kept as fp32 arrays.
public struct LayerWeights: Sendable {
  public var attentionNorm: [Float]
  public var query: any FrozenMatrix
  public var key: any FrozenMatrix
  public var value: any FrozenMatrix
  public var output: any FrozenMatrix
  public var queryBias: [Float]?
  public var keyBias: [Float]?
  public var valueBias: [Float]?
  public var mlpNorm: [Float]
  public var gate: any FrozenMatrix
  public var up: any FrozenMatrix
  public var down: any FrozenMatrix

  /// The file bytes this layer's matrices occupy (union of ranges), for prefetching and dropping pages by layer.
  public var fileRange: Range<Int> {
    let ranges = [query, key, value, output, gate, up, down].map(\.fileRange)
    return ranges.map(\.lowerBound).min()!..<ranges.map(\.upperBound).max()!
  }

  public var matrices: [any FrozenMatrix] { [query, key, value, output, gate, up, down] }
}

/// Every frozen weight of a model.
public struct ModelWeights: Sendable {
  /// (vocabulary, hidden)
  public var embedding: any FrozenMatrix
  public var layers: [LayerWeights]
  public var finalNorm: [Float]
  /// (vocabulary, hidden); the embedding itself when tied.
  public var head: any FrozenMatrix
}

/// Where named tensors come from: a GGUF file or a Hugging Face directory, addressed by Hugging Face names.
protocol WeightSource {
  var path: String { get }
  /// The tensor under its Hugging Face name, with the row order that puts it in Hugging Face layout.
  func matrix(_ hfName: String, expected: [Int], config: ModelConfig) throws -> any FrozenMatrix
  func vector(_ hfName: String, count: Int) throws -> [Float]
  func has(_ hfName: String) -> Bool
}

extension WeightSource {
  /// Loads and shape-checks every tensor the config calls for.
  func loadWeights(config c: ModelConfig) throws -> ModelWeights {
    let d = c.hiddenSize
    var layers: [LayerWeights] = []
    for i in 0..<c.layerCount {
      let p = "model.layers.\(i)."
      layers.append(
        LayerWeights(
          attentionNorm: try vector(p + "input_layernorm.weight", count: d),
          query: try matrix(p + "self_attn.q_proj.weight", expected: [c.queryDim, d], config: c),
          key: try matrix(p + "self_attn.k_proj.weight", expected: [c.kvDim, d], config: c),
          value: try matrix(p + "self_attn.v_proj.weight", expected: [c.kvDim, d], config: c),
          output: try matrix(p + "self_attn.o_proj.weight", expected: [d, c.queryDim], config: c),
          queryBias: c.hasAttentionBias ? try vector(p + "self_attn.q_proj.bias", count: c.queryDim) : nil,
          keyBias: c.hasAttentionBias ? try vector(p + "self_attn.k_proj.bias", count: c.kvDim) : nil,
          valueBias: c.hasAttentionBias ? try vector(p + "self_attn.v_proj.bias", count: c.kvDim) : nil,
          mlpNorm: try vector(p + "post_attention_layernorm.weight", count: d),
          gate: try matrix(p + "mlp.gate_proj.weight", expected: [c.intermediateSize, d], config: c),
          up: try matrix(p + "mlp.up_proj.weight", expected: [c.intermediateSize, d], config: c),
          down: try matrix(p + "mlp.down_proj.weight", expected: [d, c.intermediateSize], config: c)))
    }
    let embedding = try matrix("model.embed_tokens.weight", expected: [c.vocabularySize, d], config: c)
    let head = c.tiedEmbeddings ? embedding : try matrix("lm_head.weight", expected: [c.vocabularySize, d], config: c)
    return ModelWeights(
      embedding: embedding, layers: layers, finalNorm: try vector("model.norm.weight", count: d), head: head)
  }
}

/// Decodes a small tensor (norm weights, biases) to fp32, checking its element count.
func decodeVector(_ view: TensorView, count: Int) throws -> [Float] {
  guard view.elementCount == count else {
    throw ModelError.tensorShape(path: view.path, tensor: view.name, expected: [count], found: view.shape)
  }
  guard let type = view.type.decodable, count % type.blockSize == 0 else {
    throw FormatError.unsupportedType(path: view.path, tensor: view.name, type: view.type.description)
  }
  return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
    ggmlDecode(type, from: view.data, to: buffer.baseAddress!, count: count)
    initialized = count
  }
}

/// Builds a matrix view and checks its shape.
func checkedMatrix(_ view: TensorView, expected: [Int], rowOrder: [Int32]? = nil) throws -> any FrozenMatrix {
  guard view.shape == expected else {
    throw ModelError.tensorShape(path: view.path, tensor: view.name, expected: expected, found: view.shape)
  }
  return try GGMLMatrix(view, rowOrder: rowOrder)
}
