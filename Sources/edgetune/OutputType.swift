import ArgumentParser
import Quantization

/// --dtype of `convert` and `merge`: the element type of a dequantized or merged model file. Safetensors holds f32 or
/// f16; GGUF also llama.cpp's quantized types, made by ggml's own algorithms (`ggmlQuantize`), as llama-quantize
/// --pure makes them (a type whose block does not divide a row falls back as llama-quantize does).
enum OutputType {
  /// The names --dtype accepts, in order of size.
  static let ggufNames = ["f32", "f16", "q8_0", "q6_k", "q5_k", "q5_1", "q5_0", "q4_k", "q4_1", "q4_0"]

  /// The ggml type of a --dtype value for `output` (its extension decides what is allowed).
  static func parse(_ name: String, output: String) throws -> GGMLType {
    let lowered = name.lowercased()
    guard ggufNames.contains(lowered) else {
      throw ValidationError("--dtype \(name) is not one of \(ggufNames.joined(separator: ", "))")
    }
    guard output.hasSuffix(".gguf") || ["f32", "f16"].contains(lowered) else {
      throw ValidationError("--dtype \(name) is a GGUF type; .safetensors output holds f32 or f16")
    }
    return GGMLType.allCases.first { $0.name.lowercased() == lowered }!
  }
}
