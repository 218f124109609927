import Testing

@testable import Model

/// The hand-written regex scanners against HF's Oniguruma splits of the same texts (no model needed).
struct TokenizerPreTokenizerTests {
  @Test("pieces equal HF's for every corpus case", arguments: PreTokenizerKind.allCases)
  func goldenPieces(kind: PreTokenizerKind) throws {
    for item in try TokenizerFixtures.golden.get().cases {
      let expected = try #require(item.preTokens[kind.rawValue])
      let pieces = PreTokenizer.pieces(item.text, kind: kind)
      // Compare bytes: Swift's String == treats canonically equivalent texts as equal.
      #expect(pieces.map { Array($0.utf8) } == expected.map { Array($0.utf8) }, "\(kind) \(caseLabel(item.text))")
    }
  }

  @Test("GPT-2 regex edge cases")
  func gpt2Edges() {
    #expect(PreTokenizer.pieces("a   b", kind: .gpt2) == ["a", "  ", " b"])
    #expect(PreTokenizer.pieces("it's 'LL", kind: .gpt2) == ["it", "'s", " '", "LL"])
    #expect(PreTokenizer.pieces(" 2024!\n", kind: .gpt2) == [" 2024", "!", "\n"])
    #expect(PreTokenizer.pieces(" 2024", kind: .smollm) == [" ", "2", "0", "2", "4"])
    #expect(PreTokenizer.pieces("", kind: .gpt2).isEmpty)
  }

  @Test("Llama 3 groups digits by three, Qwen2 by one")
  func digitGroups() {
    #expect(PreTokenizer.pieces("12345", kind: .llama3) == ["123", "45"])
    #expect(PreTokenizer.pieces("12345", kind: .qwen2) == ["1", "2", "3", "4", "5"])
    #expect(PreTokenizer.pieces("I'LL (see)\n\n x", kind: .llama3) == ["I", "'LL", " (", "see", ")\n\n", " x"])
  }
}
