import Formats
import Foundation
import Testing

@Suite struct HFModelDirectoryTests {
  static let config = """
    {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "rms_norm_eps": 1e-5, "tie_word_embeddings": false,
     "model_type": "llama", "rope_scaling": null}
    """

  func shard(_ tensors: [(String, [Float])]) -> [UInt8] {
    var w = SafetensorsTestWriter()
    w.tensors = tensors.map { .init(name: $0.0, dtype: "F32", shape: [$0.1.count], data: f32Bytes($0.1)) }
    return w.build()
  }

  @Test func singleFileDirectory() throws {
    try withTemporaryDirectory { dir in
      try dir.write(Self.config, to: "config.json")
      try dir.write("{\"model\": {}}", to: "tokenizer.json")
      try dir.write("{\"chat_template\": \"{{ messages }}\"}", to: "tokenizer_config.json")
      try dir.write(SafetensorsTestWriter.sample().build(), to: "model.safetensors")
      let directory = try HFModelDirectory(path: dir.path)
      let model = directory.configObject
      #expect(model.path == directory.configPath)
      #expect(directory.architectures == ["LlamaForCausalLM"])
      #expect(try model.int("hidden_size") == 64)
      #expect(try model.optionalDouble("rms_norm_eps") == 1e-5)
      #expect(try model.optionalBool("tie_word_embeddings") == false)
      #expect(try model.optionalString("model_type") == "llama")
      #expect(try model.optionalInt("rope_scaling") == nil)
      #expect(try model.optionalInt("absent") == nil)
      expectFormatError("missingMetadata", naming: directory.configPath) { _ = try model.int("absent") }
      expectFormatError("invalidMetadata", naming: directory.configPath) { _ = try model.int("model_type") }
      #expect(directory.tokenizerJSON == Array("{\"model\": {}}".utf8))
      #expect(directory.chatTemplate == "{{ messages }}")
      #expect(directory.shards.count == 1)
      #expect(directory.tensorNames == ["model.bf16", "model.codes", "model.f16", "model.f32", "model.scalar"])
      #expect(directory.contains("model.f32"))
      #expect(decode(try directory.tensor("model.f32")) == SafetensorsTestWriter.f32Values)
      expectFormatError("missingTensor", naming: dir.path) { _ = try directory.tensor("absent") }
    }
  }

  @Test func shardedDirectoryFindsEachTensorInItsShard() throws {
    try withTemporaryDirectory { dir in
      try dir.write(Self.config, to: "config.json")
      let first = try dir.write(shard([("a", [1, 2]), ("b", [3])]), to: "model-00001-of-00002.safetensors")
      let second = try dir.write(shard([("c", [4, 5, 6])]), to: "model-00002-of-00002.safetensors")
      try dir.write(
        """
        {"metadata": {"total_size": 24}, "weight_map": {"a": "model-00001-of-00002.safetensors",
         "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}
        """, to: "model.safetensors.index.json")
      let directory = try HFModelDirectory(path: dir.path)
      #expect(directory.tokenizerJSON == nil)
      #expect(directory.chatTemplate == nil)
      #expect(directory.shards.map(\.path) == [first, second])
      #expect(directory.tensorNames == ["a", "b", "c"])
      #expect(directory.shard(of: "a")?.path == first)
      #expect(directory.shard(of: "b")?.path == first)
      #expect(directory.shard(of: "c")?.path == second)
      #expect(directory.shard(of: "d") == nil)
      #expect(decode(try directory.tensor("a")) == [1, 2])
      #expect(decode(try directory.tensor("b")) == [3])
      #expect(decode(try directory.tensor("c")) == [4, 5, 6])
      #expect(try directory.tensor("c").path == second)
    }
  }

  @Test func missingShardListedInTheIndex() throws {
    try withTemporaryDirectory { dir in
      try dir.write(Self.config, to: "config.json")
      try dir.write(shard([("a", [1])]), to: "model-00001-of-00002.safetensors")
      try dir.write(
        """
        {"weight_map": {"a": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}
        """, to: "model.safetensors.index.json")
      let error = expectFormatError("missingFile", naming: "model-00002-of-00002.safetensors") {
        _ = try HFModelDirectory(path: dir.path)
      }
      #expect(error?.description.contains(dir.path) == true)
    }
  }

  @Test func badIndexFiles() throws {
    try withTemporaryDirectory { dir in
      try dir.write(Self.config, to: "config.json")
      let index = try dir.write("{\"metadata\": {}}", to: "model.safetensors.index.json")
      expectFormatError("invalidMetadata", naming: index) { _ = try HFModelDirectory(path: dir.path) }
      try dir.write("{\"weight_map\": {\"a\": \"../escape.safetensors\"}}", to: "model.safetensors.index.json")
      expectFormatError("invalidMetadata", naming: index) { _ = try HFModelDirectory(path: dir.path) }
      try dir.write("{\"weight_map\": {\"a\": 3}}", to: "model.safetensors.index.json")
      expectFormatError("invalidMetadata", naming: index) { _ = try HFModelDirectory(path: dir.path) }
      try dir.write("{\"weight_map\": ", to: "model.safetensors.index.json")
      expectFormatError("invalidJSON", naming: index) { _ = try HFModelDirectory(path: dir.path) }
      // The same tensor in two shards.
      try dir.write(shard([("a", [1])]), to: "one.safetensors")
      try dir.write(shard([("a", [2])]), to: "two.safetensors")
      try dir.write(
        "{\"weight_map\": {\"a\": \"one.safetensors\", \"b\": \"two.safetensors\"}}", to: "model.safetensors.index.json"
      )
      expectFormatError("invalidHeader", naming: "two.safetensors") { _ = try HFModelDirectory(path: dir.path) }
    }
  }

  @Test func missingConfigOrWeights() throws {
    try withTemporaryDirectory { dir in
      try dir.write(SafetensorsTestWriter.sample().build(), to: "model.safetensors")
      let error = expectFormatError("missingFile", naming: "config.json") { _ = try HFModelDirectory(path: dir.path) }
      #expect(error?.description.contains(dir.path) == true)
      try FileManager.default.removeItem(atPath: dir.path + "/model.safetensors")
      try dir.write(Self.config, to: "config.json")
      expectFormatError("missingFile", naming: dir.path) { _ = try HFModelDirectory(path: dir.path) }
      try dir.write("[1, 2]", to: "config.json")
      expectFormatError("invalidJSON", naming: "config.json") { _ = try HFModelDirectory(path: dir.path) }
    }
    let nowhere = "/nonexistent/\(UUID().uuidString)"
    expectFormatError("missingFile", naming: nowhere) { _ = try HFModelDirectory(path: nowhere) }
  }

  @Test func singleSafetensorsPathResolvesConfigBesideIt() throws {
    try withTemporaryDirectory { dir in
      try dir.write(Self.config, to: "config.json")
      // Another .safetensors file in the same directory must not be picked up.
      try dir.write(shard([("other", [9])]), to: "model.safetensors")
      let weights = try dir.write(shard([("x", [7, 8])]), to: "custom-name.safetensors")
      let directory = try HFModelDirectory(path: weights)
      #expect(directory.directory == dir.path)
      #expect(directory.configPath == dir.path + "/config.json")
      #expect(try directory.configObject.int("hidden_size") == 64)
      #expect(directory.tensorNames == ["x"])
      #expect(decode(try directory.tensor("x")) == [7, 8])
    }
  }
}
