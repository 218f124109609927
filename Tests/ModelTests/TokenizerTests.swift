import Foundation
import Testing

@testable import Model

/// SmolLM2's tokenizer against Hugging Face `tokenizers` (goldens from make_tokenizer_goldens.py).
@Suite("BPETokenizer on SmolLM2", .enabled(if: smolLM2Available, "run make_tokenizer_goldens.py first"))
struct TokenizerTests {
  @Test("ids equal Hugging Face's for every corpus case")
  func goldenIDs() throws {
    let tokenizer = try smolLM2Tokenizer()
    let golden = try TokenizerFixtures.golden.get()
    #expect(golden.cases.count > 40)
    for item in golden.cases {
      let ids = tokenizer.encode(item.text)
      #expect(ids == item.ids, "case \(caseLabel(item.text))")
    }
  }

  @Test("decode(encode(x)) == x byte for byte")
  func roundTrip() throws {
    let tokenizer = try smolLM2Tokenizer()
    for item in try TokenizerFixtures.golden.get().cases where item.roundTrips {
      #expect(tokenizer.decodeBytes(tokenizer.encode(item.text)) == Array(item.text.utf8), "\(caseLabel(item.text))")
      #expect(Array(tokenizer.decode(tokenizer.encode(item.text)).utf8) == Array(item.text.utf8))
    }
  }

  @Test("special tokens are parsed, or not, on request")
  func specialTokens() throws {
    let tokenizer = try smolLM2Tokenizer()
    #expect(tokenizer.vocabularySize == 49152)
    #expect(tokenizer.id(of: "<|im_start|>") == 1)
    #expect(tokenizer.id(of: "<|im_end|>") == 2)
    #expect(tokenizer.token(of: 0) == "<|endoftext|>")
    #expect(tokenizer.token(of: -1) == nil)
    #expect(tokenizer.token(of: 49152) == nil)
    #expect(tokenizer.isSpecial(2) && tokenizer.isSpecial(16) && !tokenizer.isSpecial(17))
    let text = "<|im_start|>user\nHi<|im_end|>\n"
    let parsed = tokenizer.encode(text)
    #expect(parsed.first == 1)
    #expect(parsed.filter { $0 == 2 }.count == 1)
    let literal = tokenizer.encode(text, parseSpecial: false)
    #expect(!literal.contains(1) && !literal.contains(2))
    #expect(tokenizer.decode(literal) == text)
    #expect(tokenizer.encode("<|im_start") == tokenizer.encode("<|im_start", parseSpecial: false))
  }

  @Test("bytes that are not whole UTF-8 decode to U+FFFD as in HF")
  func replacementCharacter() throws {
    let tokenizer = try smolLM2Tokenizer()
    for item in try TokenizerFixtures.golden.get().decodes {
      #expect(Array(tokenizer.decode(item.ids).utf8) == Array(item.text.utf8), "ids \(item.ids)")
    }
    // The byte 0xE6 alone (first byte of a 3-byte sequence) is the token "æ".
    let lone = try #require(tokenizer.id(of: "æ"))
    #expect(tokenizer.decodeBytes([lone]) == [0xE6])
    #expect(tokenizer.decode([lone]) == "\u{FFFD}")
  }

  @Test("the GGUF's tokenizer metadata gives the special ids and vocabulary", .enabled(if: smolLM2Available))
  func ggufMetadata() throws {
    let gguf = try smolLM2Tokenizer()
    #expect(gguf.bosID == 1 && gguf.eosID == 2 && !gguf.addBOS)
    #expect(gguf.vocabularySize == 49152)
    #expect(gguf.id(of: "<|im_end|>") == 2)
  }
}
