import Formats
import Foundation
import Memory
import Testing

@testable import Model

/// The tiny fixture models through NF4: convert (NF4Converter) → load (.nf4) → run, against the source model, the
/// F32 safetensors and GGUF exports of the NF4 model, and the bitsandbytes layout the file promises.
@Suite struct NF4ModelTests {
  static let files = TinyModelTests.files

  /// Bound on ‖logits(nf4) − logits(source)‖ / ‖logits(source)‖ over every position of the golden tokens.
  /// Each NF4 weight carries ~0.09 relative RMSE (the converter's per-tensor figure, checked below); the tiny models
  /// have random weights, 2 layers and no trained redundancy, so the ~16 matrix errors add up almost independently
  /// (√16 · 0.09 ≈ 0.36). Measured (block 64, nested 256): qwen2 0.354 (hf and gguf alike), llama-mixed 0.265;
  /// block 32: 0.356 / 0.299; block 128: 0.350 / 0.301; fp32 block scales: 0.354 / 0.266; f16 or f32 embeddings
  /// and head: 0.267 / 0.204. Exact equality with the F32 export (below) is the sharp test of the decoding.
  static let logitBound = 0.5

  /// Bound on the converter's per-tensor relative RMSE (RMSE / std of the source tensor). NF4 of Gaussian-like
  /// weights is ~0.1 (QLoRA, Dettmers et al. 2023); mean measured on llama-mixed: 0.088 / 0.092 / 0.095 for
  /// blocks of 32 / 64 / 128.
  static let tensorBound = 0.15

  // MARK: - The converted model

  @Test(arguments: files) func keepsConfigTokenizerAndTemplate(file: String) throws {
    try ConvertedTinyModel.with(file) { converted in
      let model = try LanguageModel(path: converted.path)
      let source = converted.source
      #expect(model.format == .nf4)
      #expect(model.nf4File != nil)
      #expect(model.config == source.config)
      let all = try TinyModelTests.golden.get()
      #expect(model.tokenizer.encode(all.text) == source.tokenizer.encode(all.text))
      #expect(model.tokenizer.encode(all.text) == converted.golden.textIDs)
      #expect(model.tokenizer.decode(converted.golden.textIDs) == all.text)
      #expect(model.tokenizer.vocabularySize == source.tokenizer.vocabularySize)
      #expect(model.tokenizer.bosID == source.tokenizer.bosID)
      #expect(model.tokenizer.addBOS == source.tokenizer.addBOS)
      #expect(model.eosID == source.eosID)
      #expect(model.paddingID == source.paddingID)
      #expect(model.encodePrompt(all.text) == source.encodePrompt(all.text))
      #expect(
        model.chatTemplate.render(all.chat.messages, addGenerationPrompt: true)
          == source.chatTemplate.render(all.chat.messages, addGenerationPrompt: true))
    }
  }

  @Test(arguments: files) func logitsStayCloseToTheSource(file: String) throws {
    try ConvertedTinyModel.with(file) { converted in
      let ids = converted.golden.tokenIDs
      let difference = relativeRMSDifference(
        try allLogits(try LanguageModel(path: converted.path), ids), try allLogits(converted.source, ids))
      print("NF4ModelTests: \(file): relative RMS logit difference NF4 vs source \(difference)")
      #expect(difference > 0, "NF4 is lossy: identical logits mean the weights were not quantized")
      #expect(difference < Self.logitBound)
    }
  }

  @Test(arguments: files) func reportMatchesTheDecodedWeights(file: String) throws {
    try ConvertedTinyModel.with(file) { converted in
      let model = try LanguageModel(path: converted.path)
      let size = try #require(try FileManager.default.attributesOfItem(atPath: converted.path)[.size] as? Int)
      let result = converted.result
      #expect(result.fileBytes == size)
      // Every matrix is NF4 (7 per layer, embedding, untied head); every vector F32.
      let c = model.config
      #expect(result.tensors.filter { $0.storage == "NF4" }.count == 7 * c.layerCount + 2)
      #expect(result.tensors.allSatisfy { $0.storage == "NF4" ? $0.shape.count == 2 : $0.storage == "F32" })
      // All parts of the NF4 tensors over their weights. At least 4 bits + an 8-bit scale per 64 + an fp32 group
      // scale per 64·256 = 4.127; the per-tensor tables (1088 bytes) and JSON dominate on 512-element matrices.
      let nf4 = result.tensors.filter { $0.storage == "NF4" }
      let bits = Double(nf4.reduce(0) { $0 + $1.bytes } * 8) / Double(nf4.reduce(0) { $0 + $1.shape.reduce(1, *) })
      #expect(abs(result.quantizedBitsPerWeight - bits) < 1e-12 && bits > 4.127)
      // The report's error is the error of what the file decodes to.
      let pairs: [(any FrozenMatrix, any FrozenMatrix)] =
        [
          (model.weights.embedding, converted.source.weights.embedding),
          (model.weights.head, converted.source.weights.head),
        ]
        + zip(model.weights.layers, converted.source.weights.layers).flatMap { Array(zip($0.matrices, $1.matrices)) }
      for (stored, original) in pairs {
        let report = try #require(result.tensors.first { $0.name == stored.name }, "\(stored.name) not reported")
        let decoded = decodedValues(stored)
        let values = decodedValues(original)
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        var squaredError = 0.0
        var variance = 0.0
        for (d, o) in zip(decoded, values) {
          squaredError += (Double(d) - Double(o)) * (Double(d) - Double(o))
          variance += (Double(o) - mean) * (Double(o) - mean)
        }
        let relative = (squaredError / variance).squareRoot()
        #expect(abs(relative - report.relativeRMSE) <= 1e-9 + 1e-6 * relative, "\(stored.name)")
        #expect(report.relativeRMSE > 0 && report.relativeRMSE < Self.tensorBound, "\(stored.name)")
        // The report counts every part; the file's storageBytes leaves out .quant_map and the quant state JSON.
        #expect(stored.storageBytes > 0 && stored.storageBytes <= report.bytes, "\(stored.name)")
      }
    }
  }

  // MARK: - Exports of the NF4 model

  @Test(arguments: files) func f32ExportGivesIdenticalLogits(file: String) throws {
    try ConvertedTinyModel.with(file) { converted in
      let nf4 = try LanguageModel(path: converted.path)
      let exported = try LanguageModel(path: try converted.export("f32"))
      #expect(exported.format == .safetensors)
      #expect(exported.config == nf4.config)
      // The export holds the NF4-decoded values in fp32, so both models compute with the same numbers.
      for (a, b) in zip(nf4.weights.layers, exported.weights.layers) {
        for (x, y) in zip(a.matrices, b.matrices) { #expect(decodedValues(x) == decodedValues(y), "\(x.name)") }
      }
      let ids = converted.golden.tokenIDs
      #expect(try allLogits(nf4, ids) == allLogits(exported, ids))
    }
  }

  /// GGUF export (F32) against the safetensors export: same logits. For llama the exporter permutes Q/K rows into
  /// llama.cpp's order and the GGUF loader must undo it; qwen2 GGUF files are not permuted.
  @Test(arguments: files) func ggufExportGivesTheSameLogitsAsSafetensors(file: String) throws {
    try ConvertedTinyModel.with(file) { converted in
      let safetensors = try LanguageModel(path: try converted.export("f32"))
      let ggufPath = try converted.export("f32", gguf: true)
      let gguf = try LanguageModel(path: ggufPath)
      #expect(gguf.format == .gguf)
      #expect(gguf.config.architecture == safetensors.config.architecture)
      #expect(gguf.encodePrompt("Hello there") == safetensors.encodePrompt("Hello there"))
      let ids = converted.golden.tokenIDs
      #expect(try allLogits(gguf, ids) == allLogits(safetensors, ids))

      // The rows really are stored permuted for llama (else the test above would not check the re-permutation).
      let raw = try GGUFFile(path: ggufPath)
      let stored = try raw.tensor("blk.0.attn_q.weight")
      let query = decodedValues(safetensors.weights.layers[0].query)
      let storedValues = (0..<query.count).map { stored.data.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
      if safetensors.config.architecture == .llama {
        #expect(storedValues != query)
        #expect(storedValues.sorted() == query.sorted())
      } else {
        #expect(storedValues == query)
      }
    }
  }

  // MARK: - Options

  @Test(arguments: [NF4Converter.Options.EmbeddingStorage.f16, .f32], files)
  func plainEmbeddingsAreStoredPlainly(storage: NF4Converter.Options.EmbeddingStorage, file: String) throws {
    var options = NF4Converter.Options()
    options.embeddings = storage
    try ConvertedTinyModel.with(file, options: options) { converted in
      let nf4 = try NF4ModelFile(path: converted.path)
      let dtype = storage == .f16 ? "F16" : "F32"
      let c = converted.source.config
      for name in ["model.embed_tokens.weight", "lm_head.weight"] {
        #expect(!nf4.isQuantized(name))
        let entry = try #require(nf4.file.entry(name))
        #expect(entry.dtype == dtype && entry.shape == [c.vocabularySize, c.hiddenSize], "\(entry)")
        #expect(nf4.file.entry(name + ".absmax") == nil)
        #expect(converted.result.tensors.first { $0.name == name }?.storage == dtype)
      }
      #expect(nf4.isQuantized("model.layers.0.self_attn.q_proj.weight"))
      let model = try LanguageModel(path: converted.path)
      for (stored, original) in [
        (model.weights.embedding, converted.source.weights.embedding),
        (model.weights.head, converted.source.weights.head),
      ] {
        let a = decodedValues(stored)
        let b = decodedValues(original)
        if storage == .f32 {
          #expect(a == b, "\(stored.name): F32 storage must be exact")
        } else {
          // fp16 rounding: half an ulp, 2^-11 relative (2^-25 absolute below the normal range).
          let worst = zip(a, b).map { abs($0 - $1) - max(abs($1) * 0x1p-11, 0x1p-25) }.max() ?? 0
          #expect(worst <= 0, "\(stored.name): beyond fp16 rounding by \(worst)")
        }
      }
      let ids = converted.golden.tokenIDs
      let difference = relativeRMSDifference(try allLogits(model, ids), try allLogits(converted.source, ids))
      print("NF4ModelTests: \(file): \(storage) embeddings: relative RMS logit difference \(difference)")
      #expect(difference < Self.logitBound)
    }
  }

  @Test(arguments: files) func plainBlockScalesLoadAndRun(file: String) throws {
    var options = NF4Converter.Options()
    options.doubleQuantization = false
    try ConvertedTinyModel.with(file, options: options) { converted in
      let nf4 = try NF4ModelFile(path: converted.path)
      let name = "model.layers.1.mlp.down_proj.weight"
      let count = try #require(converted.result.tensors.first { $0.name == name }).shape.reduce(1, *)
      let absmax = try #require(nf4.file.entry(name + ".absmax"))
      #expect(absmax.dtype == "F32" && absmax.shape == [(count + 63) / 64])
      #expect(nf4.file.entry(name + ".nested_absmax") == nil && nf4.file.entry(name + ".nested_quant_map") == nil)
      let state = try quantState(nf4, name)
      #expect(state["nested_blocksize"] == nil && state["nested_offset"] == nil)
      if case .plain = try nf4.quantized(name).decoder.scales {} else { Issue.record("\(name): scales not plain") }
      let model = try LanguageModel(path: converted.path)
      let ids = converted.golden.tokenIDs
      let difference = relativeRMSDifference(try allLogits(model, ids), try allLogits(converted.source, ids))
      print("NF4ModelTests: \(file): fp32 block scales: relative RMS logit difference \(difference)")
      #expect(difference < Self.logitBound)
    }
  }

  @Test(arguments: [32, 128], files) func otherBlockSizesLoadAndRun(blockSize: Int, file: String) throws {
    var options = NF4Converter.Options()
    options.blockSize = blockSize
    try ConvertedTinyModel.with(file, options: options) { converted in
      let nf4 = try NF4ModelFile(path: converted.path)
      for report in converted.result.tensors where report.storage == "NF4" {
        let count = report.shape.reduce(1, *)
        #expect(try quantState(nf4, report.name)["blocksize"] as? Int == blockSize)
        #expect(nf4.file.entry(report.name + ".absmax")?.shape == [(count + blockSize - 1) / blockSize])
        #expect(try nf4.quantized(report.name).decoder.blockSize == blockSize)
      }
      let quantization = try #require(nf4.file.metadata["edgetune.quantization"])
      #expect(quantization.contains("\"blocksize\":\(blockSize)"), "\(quantization)")
      let model = try LanguageModel(path: converted.path)
      let ids = converted.golden.tokenIDs
      let difference = relativeRMSDifference(try allLogits(model, ids), try allLogits(converted.source, ids))
      print("NF4ModelTests: \(file): block size \(blockSize): relative RMS logit difference \(difference)")
      #expect(difference < Self.logitBound)
    }
  }

  /// Smaller blocks give each weight a closer scale: the mean tensor error falls with the block size.
  @Test func errorGrowsWithTheBlockSize() throws {
    func meanError(_ blockSize: Int) throws -> Double {
      var options = NF4Converter.Options()
      options.blockSize = blockSize
      return try ConvertedTinyModel.with("llama-mixed.tiny-gguf", options: options) { converted in
        let nf4 = converted.result.tensors.filter { $0.storage == "NF4" }
        return nf4.reduce(0) { $0 + $1.relativeRMSE } / Double(nf4.count)
      }
    }
    let errors = try [32, 64, 128].map(meanError)
    print("NF4ModelTests: mean tensor relative RMSE for block sizes 32/64/128: \(errors)")
    #expect(errors[0] < errors[1] && errors[1] < errors[2])
  }

  // MARK: - The file layout (bitsandbytes names and shapes)

  @Test(arguments: files) func fileHasTheBitsandbytesLayout(file: String) throws {
    try ConvertedTinyModel.with(file) { converted in
      let nf4 = try NF4ModelFile(path: converted.path)
      let st = nf4.file
      #expect(st.dataOffset % 4096 == 0, "data section starts at \(st.dataOffset)")
      // Tensors back to back from the data offset to the end of the file.
      var end = st.dataOffset
      for entry in st.entries {
        #expect(entry.range.lowerBound == end, "\(entry.name) starts at \(entry.range.lowerBound), expected \(end)")
        end = entry.range.upperBound
      }
      #expect(end == st.fileSize)

      var expected: Set<String> = []
      for report in converted.result.tensors {
        let w = report.name
        expected.insert(w)
        guard report.storage == "NF4" else {
          #expect(st.entry(w)?.dtype == "F32" && st.entry(w)?.shape == report.shape, "\(w)")
          continue
        }
        let n = report.shape.reduce(1, *)
        let blocks = (n + 63) / 64
        let parts: [(String, String, [Int])] = [
          (w, "U8", [(n + 1) / 2, 1]), (w + ".absmax", "U8", [blocks]), (w + ".quant_map", "F32", [16]),
          (w + ".nested_absmax", "F32", [(blocks + 255) / 256]), (w + ".nested_quant_map", "F32", [256]),
        ]
        for (name, dtype, shape) in parts {
          expected.insert(name)
          let entry = st.entry(name)
          #expect(entry?.dtype == dtype && entry?.shape == shape, "\(name): \(String(describing: entry))")
        }
        let stateName = w + NF4ModelFile.quantStateSuffix
        expected.insert(stateName)
        #expect(st.entry(stateName)?.dtype == "U8" && st.entry(stateName)?.shape.count == 1)
        let state = try quantState(nf4, w)
        #expect(
          Set(state.keys)
            == ["quant_type", "blocksize", "dtype", "shape", "nested_blocksize", "nested_dtype", "nested_offset"])
        #expect(state["quant_type"] as? String == "nf4" && state["blocksize"] as? Int == 64)
        #expect(state["dtype"] as? String == "float32" && state["nested_dtype"] as? String == "float32")
        #expect(state["shape"] as? [Int] == report.shape && state["nested_blocksize"] as? Int == 256)
        let offset = try #require(state["nested_offset"] as? Double)
        #expect(offset.isFinite && offset > 0)
        // The tables: NF4's 16 codes from -1 to 1 with 0 at index 7; the signed dynamic map, ascending.
        let code = floats(try st.tensor(w + ".quant_map"))
        #expect(code.first == -1 && code.last == 1 && code[7] == 0 && code == code.sorted())
        let map = floats(try st.tensor(w + ".nested_quant_map"))
        #expect(map.last == 1 && map[127] == 0 && map == map.sorted() && Set(map).count == 256)
      }
      #expect(Set(st.entries.map(\.name)) == expected)

      let metadata = st.metadata
      #expect(metadata["format"] == "pt" && metadata["edgetune.format"] == "nf4" && metadata["edgetune.version"] == "1")
      for key in ["edgetune.config", "edgetune.tokenizer", "edgetune.quantization", "edgetune.special_tokens"] {
        let text = try #require(metadata[key], "\(key) missing")
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any], "\(key)")
      }
      #expect(nf4.specialTokenIDs["eos"] == converted.source.eosID)
    }
  }

  @Test(arguments: files) func checksumsVerifyOnAFreshFile(file: String) throws {
    try ConvertedTinyModel.with(file) { converted in
      let nf4 = try NF4ModelFile(path: converted.path)
      var calls = 0
      let checked = try nf4.verifyChecksums { done, total in
        calls += 1
        #expect(done == calls && total == nf4.file.entries.count)
      }
      #expect(checked == nf4.file.entries.count && calls == checked)
    }
  }

  // MARK: - Damaged converted files

  @Test func flippedDataByteFailsTheChecksumOfThatTensor() throws {
    try ConvertedTinyModel.with("qwen2-hf") { converted in
      let entries = try NF4ModelFile(path: converted.path).file.entries
      let original = try Data(contentsOf: URL(fileURLWithPath: converted.path))
      // One tensor of each kind: packed codes, 8-bit scales, group scales, tables, quant state, a norm.
      let layer = "model.layers.1.self_attn.k_proj.weight"
      let names = [
        layer, layer + ".absmax", layer + ".nested_absmax", layer + ".quant_map", layer + ".nested_quant_map",
        layer + NF4ModelFile.quantStateSuffix, "model.norm.weight",
      ]
      for name in names {
        let entry = try #require(entries.first { $0.name == name })
        var bytes = original
        bytes[entry.range.lowerBound + entry.range.count / 2] ^= 0x10
        let path = converted.directory + "/flipped.nf4"
        try bytes.write(to: URL(fileURLWithPath: path))
        let file = try NF4ModelFile(path: path)
        do {
          try file.verifyChecksums()
          Issue.record("\(name): flipped byte not detected")
        } catch let error as FormatError {
          guard case .checksumMismatch(let p, let tensor, _, _) = error else {
            Issue.record("\(name): \(error)")
            continue
          }
          #expect(p == path && tensor == name)
        }
      }
    }
  }

  /// Every prefix of a converted file (a coarse stride through the data, every byte through the header) is refused
  /// with a FormatError when loaded as a model: never a trap, never a partly loaded model.
  @Test func truncatedFileIsAFormatError() throws {
    try ConvertedTinyModel.with("llama-mixed.tiny-gguf") { converted in
      let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: converted.path)))
      let dataOffset = try NF4ModelFile(path: converted.path).file.dataOffset
      let lengths = Array(0...(dataOffset + 16)) + Array(stride(from: dataOffset + 17, to: bytes.count, by: 257))
      let path = converted.directory + "/truncated.nf4"
      for length in lengths {
        try Data(bytes[0..<length]).write(to: URL(fileURLWithPath: path))
        do {
          _ = try LanguageModel(path: path)
          Issue.record("a \(length)-byte prefix loaded")
        } catch is FormatError {
        } catch {
          Issue.record("\(length)-byte prefix: not a FormatError: \(error)")
        }
      }
    }
  }

  /// A quant state whose shape disagrees with the config names the tensor (same byte length, rows and cols swapped).
  @Test func quantStateShapeAgainstConfigIsNamed() throws {
    try ConvertedTinyModel.with("qwen2-hf") { converted in
      let name = "model.layers.0.self_attn.k_proj.weight"
      var bytes = try Data(contentsOf: URL(fileURLWithPath: converted.path))
      let entry = try #require(try NF4ModelFile(path: converted.path).file.entry(name + NF4ModelFile.quantStateSuffix))
      let state = bytes[entry.range]
      let range = try #require(state.range(of: Data("\"shape\": [16, 32]".utf8)))
      bytes.replaceSubrange(range, with: Data("\"shape\": [32, 16]".utf8))
      try bytes.write(to: URL(fileURLWithPath: converted.path))
      #expect(
        throws: ModelError.tensorShape(path: converted.path, tensor: name, expected: [16, 32], found: [32, 16])
      ) { _ = try LanguageModel(path: converted.path) }
    }
  }

  private func quantState(_ file: NF4ModelFile, _ name: String) throws -> [String: Any] {
    let view = try file.tensor(name + NF4ModelFile.quantStateSuffix)
    return try #require(try JSONSerialization.jsonObject(with: Data(view.bytes)) as? [String: Any])
  }

  private func floats(_ view: TensorView) -> [Float] {
    (0..<view.elementCount).map { view.data.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
  }
}
