/// One stored tensor of a model under its Hugging Face name, in the order files hold them.
public struct NamedWeight: Sendable {
  public enum Kind: Sendable {
    /// A frozen matrix; `isEmbedding` for the embedding and an untied head (stored per the embeddings option).
    case matrix(any FrozenMatrix, isEmbedding: Bool)
    /// A small fp32 vector (norm weight, bias).
    case vector([Float])
  }
  public var name: String
  public var kind: Kind

  public var shape: [Int] {
    switch kind {
    case .matrix(let m, _): [m.rows, m.cols]
    case .vector(let v): [v.count]
    }
  }
}

extension ModelWeights {
  /// Every tensor in file order: the embedding, each layer's tensors together (norm, q, k, v, their biases, o, norm,
  /// gate, up, down), the final norm and an untied head. Converters and exporters write exactly this list.
  public func named(config c: ModelConfig) -> [NamedWeight] {
    var list = [NamedWeight(name: "model.embed_tokens.weight", kind: .matrix(embedding, isEmbedding: true))]
    for (i, layer) in layers.enumerated() {
      let p = "model.layers.\(i)."
      func matrix(_ target: ProjectionTarget) -> NamedWeight {
        NamedWeight(
          name: p + target.modulePath + ".weight", kind: .matrix(target.matrix(in: layer), isEmbedding: false))
      }
      list.append(NamedWeight(name: p + "input_layernorm.weight", kind: .vector(layer.attentionNorm)))
      list += [matrix(.q), matrix(.k), matrix(.v)]
      if let b = layer.queryBias { list.append(NamedWeight(name: p + "self_attn.q_proj.bias", kind: .vector(b))) }
      if let b = layer.keyBias { list.append(NamedWeight(name: p + "self_attn.k_proj.bias", kind: .vector(b))) }
      if let b = layer.valueBias { list.append(NamedWeight(name: p + "self_attn.v_proj.bias", kind: .vector(b))) }
      list.append(matrix(.o))
      list.append(NamedWeight(name: p + "post_attention_layernorm.weight", kind: .vector(layer.mlpNorm)))
      list += [matrix(.gate), matrix(.up), matrix(.down)]
    }
    list.append(NamedWeight(name: "model.norm.weight", kind: .vector(finalNorm)))
    if !c.tiedEmbeddings { list.append(NamedWeight(name: "lm_head.weight", kind: .matrix(head, isEmbedding: true))) }
    return list
  }
}

extension LanguageModel {
  /// Tokens that end a generated answer: end-of-sequence and the chat template's end-of-turn token.
  public var stopTokenIDs: Set<Int32> {
    var stops: Set<Int32> = []
    if let eos = eosID { stops.insert(eos) }
    if let end = tokenizer.id(of: chatTemplate.endOfTurn) { stops.insert(end) }
    return stops
  }
}
