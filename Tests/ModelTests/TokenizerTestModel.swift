import Foundation
import Testing

@testable import Model

// The only place tokenizer tests get the real SmolLM2 tokenizer from: the GGUF's own tokenizer.ggml.* metadata,
// loaded the way the CLI loads it. (The tokenizer.json path is tested separately in TokenizerJSONTests.)

/// Whether `smolLM2Tokenizer()` can succeed; tests that need the model are `.enabled(if: smolLM2Available)`.
var smolLM2Available: Bool { ModelFixtures.haveGGUF }

/// SmolLM2-135M-Instruct's tokenizer, from the fetched GGUF.
func smolLM2Tokenizer() throws -> BPETokenizer {
  try ModelFixtures.ggufModel().tokenizer
}
