import Formats
import Foundation
public import Memory
public import Model
import Quantization

/// llama.cpp's LoRA adapter file, which `llama-cli --lora` and Ollama's `ADAPTER` load on top of the base GGUF: a
/// GGUF with general.type "adapter", adapter.type "lora", adapter.lora.alpha and general.architecture (llama.cpp
/// refuses another architecture), and two tensors per adapted weight named after the base file's:
/// `blk.N.attn_q.weight.lora_a` (rank × in, ggml ne [in, rank]) and `….lora_b` (out × rank). B's rows are in the
/// base file's order: llama-arch Q/K rows permuted as llama.cpp's converter permutes the base weights (A is not
/// touched: the permutation acts on output rows). llama.cpp scales by alpha / rank.
///
/// Written as F32, so PEFT → GGUF → PEFT is bit-identical; F32, F16, BF16 and Q8_0 are read. What llama.cpp's scale
/// cannot say (rsLoRA's alpha / sqrt(r)) is folded into adapter.lora.alpha, and the PEFT fields are kept under
/// `edgetune.lora.*` so that reading the file back restores the adapter_config.json they came from.
/// ref: llama.cpp src/llama-adapter.cpp (llama_adapter_lora_init_impl), convert_lora_to_gguf.py.
extension LoRAAdapterSet {
  enum GGUFKey {
    static let type = "general.type"
    static let architecture = "general.architecture"
    static let adapterType = "adapter.type"
    static let alpha = "adapter.lora.alpha"
    static let peftAlpha = "edgetune.lora.alpha"
    static let rsLoRA = "edgetune.lora.use_rslora"
    static let dropout = "edgetune.lora.dropout"
    static let seed = "edgetune.lora.seed"
    static let baseModel = "edgetune.lora.base_model_name_or_path"
  }

  /// True when `path` is a GGUF file (by its magic): given as an adapter, it is read as a llama.cpp LoRA adapter
  /// (and a model file given by mistake is refused by `loadGGUF`).
  public static func isGGUFFile(_ path: String) -> Bool { GGUFFile.hasMagic(atPath: path) }

  /// True when `path` is a GGUF file whose general.type is "adapter".
  public static func isAdapterGGUF(_ path: String) -> Bool {
    guard isGGUFFile(path), let file = try? GGUFFile(path: path) else { return false }
    return file.metadata[GGUFKey.type]?.string == "adapter"
  }

  /// Writes the adapter as a llama.cpp LoRA adapter GGUF at `path` (atomically); returns the file size.
  /// - Throws: `TrainingError.checkpoint` for what llama.cpp cannot apply (DoRA, a reward model's head).
  @discardableResult
  public func writeGGUF(to path: String, baseModel: String? = nil) throws -> Int {
    guard !config.useDoRA else {
      throw TrainingError.checkpoint(
        path: path,
        reason: "a DoRA adapter has no llama.cpp format (llama.cpp applies plain LoRA); merge it into the model "
          + "instead: `edgetune merge --model BASE --adapter DIR -o merged.gguf`")
    }
    guard heads.modules.isEmpty else {
      throw TrainingError.checkpoint(
        path: path, reason: "a reward model (its score head) is not a generation adapter llama.cpp can load")
    }
    // llama.cpp's scale is alpha / rank; rsLoRA's alpha / sqrt(rank) is the same scale with alpha·sqrt(rank).
    let llamaAlpha = Float(config.scale * Double(config.rank))
    var metadata: [(String, GGUFValue)] = [
      (GGUFKey.architecture, .string(model.architecture.rawValue)),
      (GGUFKey.type, .string("adapter")),
      (GGUFKey.adapterType, .string("lora")),
      (GGUFKey.alpha, .float32(llamaAlpha)),
      (GGUFKey.peftAlpha, .float64(config.alpha)),
      (GGUFKey.rsLoRA, .bool(config.useRSLoRA)),
      (GGUFKey.dropout, .float64(config.dropout)),
      (GGUFKey.seed, .uint64(config.seed)),
    ]
    if let baseModel { metadata.append((GGUFKey.baseModel, .string(baseModel))) }
    var plans: [GGUFTensorPlan] = []
    for layer in 0..<model.layerCount {
      for target in config.targets {
        let name = LlamaCppNames.tensorName(layer: layer, target: target)
        let (out, inFeatures) = target.shape(model)
        plans.append(GGUFTensorPlan(name: name + ".lora_a", shape: [config.rank, inFeatures], type: .f32))
        plans.append(GGUFTensorPlan(name: name + ".lora_b", shape: [out, config.rank], type: .f32))
      }
    }
    let writer = try GGUFWriter(path: path, metadata: metadata, tensors: plans)
    for layer in 0..<model.layerCount {
      for target in config.targets {
        try writer.writeTensor(UnsafeRawBufferPointer(a(layer: layer, target: target)!.value))
        let b = b(layer: layer, target: target)!
        if let order = LlamaCppNames.rowOrder(target: target, config: model) {
          // Canonical row r is stored at row order[r], as in the base file.
          let rank = config.rank
          var permuted = [Float](repeating: 0, count: b.count)
          for (r, stored) in order.enumerated() {
            for j in 0..<rank { permuted[Int(stored) * rank + j] = b.value[r * rank + j] }
          }
          try permuted.withUnsafeBytes { try writer.writeTensor($0) }
        } else {
          try writer.writeTensor(UnsafeRawBufferPointer(b.value))
        }
      }
    }
    try writer.finish()
    return writer.fileSize
  }

  /// Reads a llama.cpp LoRA adapter GGUF for a model of configuration `model`.
  ///
  /// Refuses, naming the file: a GGUF that is not a LoRA adapter (a model file given as the adapter), an adapter for
  /// another architecture, `adapter.*` keys EdgeTune does not apply (an activated LoRA's invocation tokens), tensors
  /// that are not lora_a/lora_b of a projection EdgeTune adapts (embeddings, norms), a layer the model does not have,
  /// projections adapted in some layers only, ranks that differ, shapes of another model, and unreadable types.
  public static func loadGGUF(from path: String, model: ModelConfig, ledger: MemoryLedger) throws -> LoRAAdapterSet {
    let file = try GGUFFile(path: path)
    func fail(_ reason: String) -> TrainingError { .checkpoint(path: path, reason: reason) }
    let type = file.metadata[GGUFKey.type]?.string
    guard type == "adapter" else {
      throw fail(
        "general.type is \(type.map { "'\(displayName($0))'" } ?? "missing"), not 'adapter': this is a model file, "
          + "not a LoRA adapter (give a model with --model)")
    }
    let adapterType = file.metadata[GGUFKey.adapterType]?.string
    guard adapterType == "lora" else {
      throw fail("adapter.type is \(adapterType.map { "'\(displayName($0))'" } ?? "missing"), not 'lora'")
    }
    let architecture = file.metadata[GGUFKey.architecture]?.string ?? "missing"
    guard architecture == model.architecture.rawValue else {
      throw fail(
        "an adapter for a '\(displayName(architecture))' model; the base model is '\(model.architecture.rawValue)'")
    }
    let known: Set = [GGUFKey.adapterType, GGUFKey.alpha]
    if let other = file.metadataKeys.first(where: { $0.hasPrefix("adapter.") && !known.contains($0) }) {
      throw fail("metadata '\(displayName(other))' is not one EdgeTune applies (a plain LoRA adapter has none)")
    }
    let llamaAlpha = try file.optionalDouble(GGUFKey.alpha) ?? 0
    guard llamaAlpha >= 0, llamaAlpha.isFinite else { throw fail("adapter.lora.alpha is \(llamaAlpha)") }

    // Every tensor is blk.N.<projection>.weight.lora_(a|b); gather them by layer and projection.
    var pairs: [Int: [ProjectionTarget: (a: String?, b: String?)]] = [:]
    for info in file.tensors {
      let name = info.name
      let parts = name.split(separator: ".", omittingEmptySubsequences: false)
      guard parts.count == 5, parts[0] == "blk", let layer = Int(parts[1]), parts[3] == "weight",
        parts[4] == "lora_a" || parts[4] == "lora_b"
      else {
        throw fail(
          "tensor '\(displayName(name))' is not a LoRA matrix of a layer's projection (blk.N.*.weight.lora_a/b)")
      }
      guard let target = LlamaCppNames.target(ofSuffix: parts[2] + ".weight") else {
        throw fail(
          "tensor '\(displayName(name))' adapts '\(displayName(String(parts[2])))', which is not a projection "
            + "EdgeTune adapts (attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down)")
      }
      guard layer >= 0, layer < model.layerCount else {
        throw fail(
          "tensor '\(displayName(name))' is in layer \(layer), but the model has \(model.layerCount) layers (an "
            + "adapter for another model?)")
      }
      var pair = pairs[layer, default: [:]][target] ?? (nil, nil)
      if parts[4] == "lora_a" { pair.a = name } else { pair.b = name }
      pairs[layer, default: [:]][target] = pair
    }
    guard let first = pairs[0], !first.isEmpty else { throw fail("holds no LoRA tensors for layer 0") }
    let targets = ProjectionTarget.allCases.filter { first[$0] != nil }
    for layer in 0..<model.layerCount {
      let here = ProjectionTarget.allCases.filter { pairs[layer]?[$0] != nil }
      guard here == targets else {
        throw fail(
          "layer \(layer) adapts [\(here.map(\.moduleName).joined(separator: ", "))], layer 0 "
            + "[\(targets.map(\.moduleName).joined(separator: ", "))]: EdgeTune applies LoRA to the same projections "
            + "in every layer")
      }
      for target in targets {
        let pair = pairs[layer]![target]!
        guard pair.a != nil, pair.b != nil else {
          throw fail("\(LlamaCppNames.tensorName(layer: layer, target: target)) has only one of lora_a and lora_b")
        }
      }
    }
    let firstA = file.info(pairs[0]![targets[0]]!.a!)!
    let rank = firstA.shape.count == 2 ? firstA.shape[0] : 0

    var config: LoRAConfig
    do {
      // Our own keys restore the PEFT config exactly; a file from elsewhere has llama.cpp's scale alpha / rank
      // (alpha 0 meaning scale 1, as llama.cpp reads it).
      let rsLoRA = file.metadata[GGUFKey.rsLoRA] == .bool(true)
      let alpha = try file.optionalDouble(GGUFKey.peftAlpha) ?? (llamaAlpha == 0 ? Double(rank) : llamaAlpha)
      config = try LoRAConfig(
        rank: rank, alpha: alpha, dropout: try file.optionalDouble(GGUFKey.dropout) ?? 0, targets: targets,
        useRSLoRA: rsLoRA)
    } catch let error as TrainingError {
      throw fail(error.description)
    }
    if case .uint64(let seed) = file.metadata[GGUFKey.seed] { config.seed = seed }
    let set = try LoRAAdapterSet(config: config, model: model, ledger: ledger, initialize: false)
    set.baseModelName = file.metadata[GGUFKey.baseModel]?.string
    for layer in 0..<model.layerCount {
      for target in targets {
        let pair = pairs[layer]![target]!
        let a = set.a(layer: layer, target: target)!
        let b = set.b(layer: layer, target: target)!
        try read(file.tensor(pair.a!), into: a, path: path, rowOrder: nil)
        try read(
          file.tensor(pair.b!), into: b, path: path, rowOrder: LlamaCppNames.rowOrder(target: target, config: model))
      }
    }
    return set
  }

  /// Decodes one adapter tensor into `tensor` after checking its shape, putting stored row `rowOrder[r]` at row r.
  private static func read(_ view: TensorView, into tensor: ParameterTensor, path: String, rowOrder: [Int32]?) throws {
    guard view.shape == tensor.shape else {
      throw TrainingError.checkpoint(
        path: path,
        reason: "tensor '\(displayName(view.name))' has shape \(view.shape); this model needs \(tensor.shape) (an "
          + "adapter for another base model, or ranks that differ between tensors)")
    }
    guard let type = view.type.decodable, [.f32, .f16, .bf16, .q8_0].contains(type) else {
      throw TrainingError.checkpoint(
        path: path,
        reason: "tensor '\(displayName(view.name))' is \(view.type); adapters are read as F32, F16, BF16 or Q8_0")
    }
    guard let order = rowOrder else {
      return ggmlDecode(type, from: view.data, to: tensor.value.baseAddress!, count: tensor.count)
    }
    var stored = [Float](repeating: 0, count: tensor.count)
    stored.withUnsafeMutableBufferPointer {
      ggmlDecode(type, from: view.data, to: $0.baseAddress!, count: tensor.count)
    }
    let columns = tensor.shape[1]
    for (r, row) in order.enumerated() {
      for j in 0..<columns { tensor.value[r * columns + j] = stored[Int(row) * columns + j] }
    }
  }
}
