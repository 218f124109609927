import Formats
import Foundation
import Memory
import Model
import Testing

@testable import Training

/// llama.cpp's LoRA adapter GGUF: written and read back bit-identically, laid out as llama.cpp loads it (names,
/// ggml dimensions, Q/K rows permuted as its converter permutes the base), and hostile files refused by name.
@Suite struct AdapterGGUFTests {
  static let targets: [ProjectionTarget] = [.q, .k, .v, .o, .gate, .up, .down]

  static func trainedSet(_ model: ModelConfig, rsLoRA: Bool = false) throws -> LoRAAdapterSet {
    let config = try LoRAConfig(
      rank: 4, alpha: 8, dropout: 0.05, targets: targets, useRSLoRA: rsLoRA, seed: 1 << 63 + 5)
    let set = try AdapterPEFTTests.trainedSet(model, config: config)
    return set
  }

  @Test(arguments: [false, true]) func writeThenReadIsIdentical(rsLoRA: Bool) throws {
    let root = try AdapterTestSupport.scratchDirectory("gguf-adapter")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    let set = try Self.trainedSet(model, rsLoRA: rsLoRA)
    let path = root + "/adapter.gguf"
    try set.writeGGUF(to: path, baseModel: "HuggingFaceTB/SmolLM2-135M-Instruct")
    #expect(LoRAAdapterSet.isGGUFFile(path) && LoRAAdapterSet.isAdapterGGUF(path))
    // Through the loader every --adapter option uses.
    let loaded = try #require(
      try AdapterLoader.load(from: path, model: model, ledger: MemoryLedger()) as? LoRAAdapterSet)
    #expect(loaded.config == set.config)
    #expect(loaded.baseModelName == "HuggingFaceTB/SmolLM2-135M-Instruct")
    #expect(loaded.parameters.tensors.map(\.name) == set.parameters.tensors.map(\.name))
    #expect(Array(loaded.parameters.allValues) == Array(set.parameters.allValues))
    #expect(AdapterLoader.peftType(in: path) == "LORA")
  }

  @Test func layoutIsLlamaCpps() throws {
    let root = try AdapterTestSupport.scratchDirectory("gguf-adapter-layout")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    let set = try Self.trainedSet(model, rsLoRA: true)
    let path = root + "/adapter.gguf"
    try set.writeGGUF(to: path)
    let file = try GGUFFile(path: path)
    #expect(file.metadata["general.type"] == .string("adapter"))
    #expect(file.metadata["general.architecture"] == .string("llama"))
    #expect(file.metadata["adapter.type"] == .string("lora"))
    // llama.cpp scales by alpha / rank: rsLoRA's alpha / sqrt(rank) = 8 / 2 = 4 is written as alpha 16.
    #expect(file.metadata["adapter.lora.alpha"] == .float32(16))
    let names = file.tensors.map(\.name)
    #expect(names.count == 2 * 2 * Self.targets.count)
    #expect(
      Array(names.prefix(4)) == [
        "blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b", "blk.0.attn_k.weight.lora_a",
        "blk.0.attn_k.weight.lora_b",
      ])
    #expect(names.contains("blk.1.ffn_down.weight.lora_b") && names.contains("blk.1.attn_output.weight.lora_a"))
    // ggml dimensions: lora_a ne = [in, rank], lora_b ne = [rank, out] (llama_adapter_lora_init_impl's checks).
    let qa = try #require(file.info("blk.0.attn_q.weight.lora_a"))
    let kb = try #require(file.info("blk.0.attn_k.weight.lora_b"))
    #expect(qa.dimensions == [model.hiddenSize, 4] && kb.dimensions == [4, model.kvDim])

    // B's rows as convert_hf_to_gguf.py's permute leaves them: w.reshape(heads, 2, headDim/2, cols)
    // .swapaxes(1, 2), i.e. Hugging Face row h·d + t·d/2 + j is stored at row h·d + 2j + t. A and V are untouched.
    let d = model.headDim
    for (target, heads) in [(ProjectionTarget.q, model.headCount), (.k, model.kvHeadCount)] {
      let b = set.b(layer: 1, target: target)!
      let stored = try floats(file, "blk.1.\(target == .q ? "attn_q" : "attn_k").weight.lora_b")
      for h in 0..<heads {
        for t in 0..<2 {
          for j in 0..<d / 2 {
            let hf = h * d + t * d / 2 + j
            let row = h * d + 2 * j + t
            #expect(Array(stored[(row * 4)..<(row * 4 + 4)]) == Array(b.value[(hf * 4)..<(hf * 4 + 4)]))
          }
        }
      }
    }
    #expect(try floats(file, "blk.1.attn_v.weight.lora_b") == Array(set.b(layer: 1, target: .v)!.value))
    #expect(try floats(file, "blk.1.attn_q.weight.lora_a") == Array(set.a(layer: 1, target: .q)!.value))
  }

  func floats(_ file: GGUFFile, _ name: String) throws -> [Float] {
    let view = try file.tensor(name)
    return Array(UnsafeBufferPointer(start: view.data.assumingMemoryBound(to: Float.self), count: view.elementCount))
  }

  @Test func doraAndRewardModelsAreRefused() throws {
    let root = try AdapterTestSupport.scratchDirectory("gguf-adapter-refused")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    let dora = try LoRAAdapterSet(
      config: LoRAConfig(rank: 2, targets: [.v], useDoRA: true), model: model, ledger: MemoryLedger())
    let error = #expect(throws: TrainingError.self) { try dora.writeGGUF(to: root + "/dora.gguf") }
    #expect(error?.description.contains("DoRA adapter has no llama.cpp format") == true)
    #expect(!FileManager.default.fileExists(atPath: root + "/dora.gguf"))
  }

  /// A hand-made adapter file: the given metadata (after general.type/architecture/adapter.type unless replaced) and
  /// F32 tensors of the given shapes.
  func write(
    _ path: String, metadata: [(String, GGUFValue)]? = nil, extra: [(String, GGUFValue)] = [],
    tensors: [(String, [Int])]
  ) throws {
    let base: [(String, GGUFValue)] =
      metadata ?? [
        ("general.architecture", .string("llama")), ("general.type", .string("adapter")),
        ("adapter.type", .string("lora")), ("adapter.lora.alpha", .float32(16)),
      ]
    let plans = tensors.map { GGUFTensorPlan(name: $0.0, shape: $0.1, type: .f32) }
    let writer = try GGUFWriter(path: path, metadata: base + extra, tensors: plans)
    for plan in plans {
      let zeros = [Float](repeating: 0.5, count: plan.shape.reduce(1, *))
      try zeros.withUnsafeBytes { try writer.writeTensor($0) }
    }
    try writer.finish()
  }

  /// lora_a/lora_b of q and v in every layer of the tiny model (rank 4), optionally changed.
  func validTensors(layers: Int = 2, hidden: Int = 64, rank: Int = 4) -> [(String, [Int])] {
    (0..<layers).flatMap { layer in
      [
        ("blk.\(layer).attn_q.weight.lora_a", [rank, hidden]), ("blk.\(layer).attn_q.weight.lora_b", [hidden, rank]),
        ("blk.\(layer).attn_v.weight.lora_a", [rank, hidden]), ("blk.\(layer).attn_v.weight.lora_b", [32, rank]),
      ]
    }
  }

  @Test func hostileFilesAreRefusedByName() throws {
    let root = try AdapterTestSupport.scratchDirectory("gguf-adapter-hostile")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let model = try AdapterTestSupport.tinyConfig()
    func refusal(_ name: String, _ build: (String) throws -> Void) throws -> String {
      let path = root + "/" + name + ".gguf"
      try build(path)
      let error = #expect(throws: TrainingError.self) {
        _ = try LoRAAdapterSet.loadGGUF(from: path, model: model, ledger: MemoryLedger())
      }
      let text = error?.description ?? ""
      #expect(text.contains(path), "\(name): \(text)")
      return text
    }
    // The valid file loads (so each refusal below is the one change's doing).
    try write(root + "/valid.gguf", tensors: validTensors())
    let valid = try LoRAAdapterSet.loadGGUF(from: root + "/valid.gguf", model: model, ledger: MemoryLedger())
    #expect(valid.config.rank == 4 && valid.config.targets == [.q, .v] && valid.config.alpha == 16)

    let modelFile = try refusal("model") {
      try write(
        $0, metadata: [("general.architecture", .string("llama")), ("general.type", .string("model"))],
        tensors: [("token_embd.weight", [256, 64])])
    }
    #expect(modelFile.contains("not 'adapter': this is a model file"))
    #expect(
      try refusal("qwen") {
        try write(
          $0,
          metadata: [
            ("general.architecture", .string("qwen2")), ("general.type", .string("adapter")),
            ("adapter.type", .string("lora")),
          ], tensors: validTensors())
      }.contains("an adapter for a 'qwen2' model; the base model is 'llama'"))
    #expect(
      try refusal("alora") {
        try write($0, extra: [("adapter.alora.invocation_tokens", .array([.uint32(5)]))], tensors: validTensors())
      }.contains("metadata 'adapter.alora.invocation_tokens' is not one EdgeTune applies"))
    #expect(
      try refusal("embedding") {
        try write($0, tensors: validTensors() + [("token_embd.weight.lora_a", [4, 256])])
      }.contains("tensor 'token_embd.weight.lora_a' is not a LoRA matrix"))
    #expect(
      try refusal("norm") {
        try write($0, tensors: validTensors() + [("blk.0.attn_norm.weight.lora_a", [4, 64])])
      }.contains("adapts 'attn_norm', which is not a projection"))
    #expect(
      try refusal("layers") { try write($0, tensors: validTensors(layers: 3)) }
        .contains("is in layer 2, but the model has 2 layers"))
    #expect(
      try refusal("subset") { try write($0, tensors: Array(validTensors().dropLast(2))) }
        .contains("layer 1 adapts [q_proj], layer 0 [q_proj, v_proj]"))
    #expect(
      try refusal("half-pair") { try write($0, tensors: Array(validTensors().dropLast(1))) }
        .contains("blk.1.attn_v.weight has only one of lora_a and lora_b"))
    #expect(
      try refusal("hidden") { try write($0, tensors: validTensors(hidden: 128)) }
        .contains("has shape [4, 128]; this model needs [4, 64]"))
    let control = try refusal("control") {
      try write($0, tensors: validTensors() + [("blk.0.attn_q\u{1b}[2J.weight.lora_a", [4, 64])])
    }
    #expect(control.contains("\\u{1B}[2J") && !control.contains("\u{1b}"))
  }
}
