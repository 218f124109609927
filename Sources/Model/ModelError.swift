/// Why a model cannot be loaded or run, naming the file, tensor or option involved.
public enum ModelError: Error, CustomStringConvertible, Equatable {
  case unsupportedArchitecture(path: String, architecture: String)
  case invalidConfig(path: String, reason: String)
  case tensorShape(path: String, tensor: String, expected: [Int], found: [Int])
  case missingTokenizer(path: String, reason: String)
  case contextExceeded(tokens: Int, limit: Int)
  case unknownFormat(path: String)
  case invalidTokenID(id: Int, vocabularySize: Int)

  public var description: String {
    switch self {
    case .unsupportedArchitecture(let path, let architecture):
      "\(path): architecture '\(architecture)' is not supported (supported: llama, qwen2)"
    case .invalidConfig(let path, let reason): "\(path): invalid model configuration: \(reason)"
    case .tensorShape(let path, let tensor, let expected, let found):
      "\(path): tensor '\(tensor)' has shape \(found), the configuration requires \(expected)"
    case .missingTokenizer(let path, let reason): "\(path): no usable tokenizer: \(reason)"
    case .contextExceeded(let tokens, let limit):
      "\(tokens) tokens do not fit the context of \(limit); shorten the input or lower --max-tokens"
    case .unknownFormat(let path):
      "\(path): not a GGUF file, a .safetensors file or a Hugging Face model directory"
    case .invalidTokenID(let id, let vocabularySize): "token id \(id) is outside the vocabulary of \(vocabularySize)"
    }
  }
}
