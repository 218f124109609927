import Foundation
import Testing

@testable import Model

/// Where the tokenizer tests find their inputs. The fixtures live beside the tests; the SmolLM2 tokenizer.json and
/// the raw GGUF vocabulary dump are written by `Tools/reference/make_tokenizer_goldens.py` (default /tmp/edgetune).
enum TokenizerFixtures {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
  static let environment = ProcessInfo.processInfo.environment
  /// The tokenizer.json of the Hugging Face copy made at set-up (Tools/reference/make_hf_copy.py builds it with the
  /// `tokenizers` package from the GGUF's vocabulary, as SmolLM2's own tokenizer.json is).
  static let tokenizerJSONPath = environment["EDGETUNE_TOKENIZER_JSON"] ?? ModelFixtures.hfCopyPath + "/tokenizer.json"

  static func bytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
  }

  /// The checked-in goldens (`tokenizer_golden.json`), decoded once.
  static let golden: Result<TokenizerGolden, any Error> = Result {
    let data = try Data(contentsOf: directory.appendingPathComponent("tokenizer_golden.json"))
    return try JSONDecoder().decode(TokenizerGolden.self, from: data)
  }

}

/// `Fixtures/tokenizer_golden.json`, as written by `make_tokenizer_goldens.py`.
struct TokenizerGolden: Decodable, Sendable {
  struct Case: Decodable, Sendable {
    var text: String
    var ids: [Int32]
    var roundTrips: Bool
    var preTokens: [String: [String]]
    enum CodingKeys: String, CodingKey {
      case text, ids
      case roundTrips = "round_trips"
      case preTokens = "pre_tokens"
    }
  }
  struct Decode: Decodable, Sendable {
    var ids: [Int32]
    var text: String
  }
  struct Chat: Decodable, Sendable {
    var messages: [ChatMessage]
    var addGenerationPrompt: Bool
    var text: String
    enum CodingKeys: String, CodingKey {
      case messages, text
      case addGenerationPrompt = "add_generation_prompt"
    }
  }
  struct Template: Decodable, Sendable {
    var name: String
    var template: String
    var endOfTurn: String
    var chats: [Chat]
    enum CodingKeys: String, CodingKey {
      case name, template, chats
      case endOfTurn = "end_of_turn"
    }
  }
  var chatTemplate: String
  var cases: [Case]
  var decodes: [Decode]
  var chats: [Chat]
  var otherTemplates: [Template]
  enum CodingKeys: String, CodingKey {
    case cases, decodes, chats
    case chatTemplate = "chat_template"
    case otherTemplates = "other_templates"
  }
}

/// A short, printable label for a test case's text.
func caseLabel(_ text: String) -> String {
  let head = text.prefix(40).unicodeScalars.map {
    $0.isASCII && $0.value >= 0x20 ? String($0) : $0.escaped(asASCII: true)
  }
  return "\"\(head.joined())\(text.count > 40 ? "…" : "")\" (\(text.utf8.count) bytes)"
}
