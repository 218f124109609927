import Model

extension Convert {
  /// `convert --json`: the input and output, the file's size, and the time taken; to NF4 also the bits per weight and
  /// every tensor's storage and quantization error, to safetensors or GGUF the dtype. Inside a `CommandReport`.
  struct Result: Codable {
    var input: String
    var output: String
    var fileBytes: Int
    var seconds = 0.0
    /// NF4 only.
    var quantizedBitsPerWeight: Double?
    var fileBitsPerWeight: Double?
    var tensors: [Tensor]?
    /// safetensors and GGUF only: "f32" or "f16".
    var dtype: String?
    /// An adapter converted to GGUF on a GGUF base: the Ollama Modelfile written beside it.
    var modelfile: String?
    /// --check, or a quantized source converted to NF4: perplexity of the source and the output on the sample.
    var check: QuantizationCheck?

    /// One converted tensor: its storage ("NF4", "F16" or "F32"), bytes and relative RMS error.
    struct Tensor: Codable {
      var name: String
      var shape: [Int]
      var storage: String
      var bytes: Int
      var relativeRMSE: Double

      enum CodingKeys: String, CodingKey {
        case name, shape, storage, bytes
        case relativeRMSE = "relative_rmse"
      }
    }

    enum CodingKeys: String, CodingKey {
      case input, output, seconds, tensors, dtype, modelfile, check
      case fileBytes = "file_bytes"
      case quantizedBitsPerWeight = "quantized_bits_per_weight"
      case fileBitsPerWeight = "file_bits_per_weight"
    }
  }
}
