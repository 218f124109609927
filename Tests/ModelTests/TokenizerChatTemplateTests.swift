import Testing

@testable import Model

/// Chat rendering against jinja2's output of the real templates (goldens from make_tokenizer_goldens.py).
struct TokenizerChatTemplateTests {
  @Test("SmolLM2's GGUF template renders as Jinja does")
  func smolLM2() throws {
    let golden = try TokenizerFixtures.golden.get()
    let template = try ChatTemplate(jinja: golden.chatTemplate)
    #expect(
      template.style == .chatML(defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
    #expect(template.endOfTurn == "<|im_end|>")
    for chat in golden.chats {
      #expect(template.render(chat.messages, addGenerationPrompt: chat.addGenerationPrompt) == chat.text)
    }
  }

  @Test("Qwen2, Llama 3 and Zephyr templates render as Jinja does")
  func otherTemplates() throws {
    for other in try TokenizerFixtures.golden.get().otherTemplates {
      let template = try ChatTemplate(jinja: other.template)
      #expect(template.endOfTurn == other.endOfTurn, "\(other.name)")
      for chat in other.chats {
        let rendered = template.render(chat.messages, addGenerationPrompt: chat.addGenerationPrompt)
        #expect(rendered == chat.text, "\(other.name)")
      }
    }
  }

  @Test("no template means plain ChatML; unknown templates throw")
  func fallbacks() throws {
    let plain = try ChatTemplate(jinja: nil)
    #expect(
      plain.render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    #expect(throws: TokenizerError.self) { try ChatTemplate(jinja: "{{ messages[0]['content'] }}") }
    let direct = ChatTemplate.chatML(defaultSystem: "S")
    #expect(
      direct.render([ChatMessage(role: "user", content: "u")], addGenerationPrompt: false)
        == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nu<|im_end|>\n")
    let mistral = try ChatTemplate(jinja: "{{ '[INST] ' + message['content'] + ' [/INST]' }}")
    #expect(
      mistral.render(
        [
          ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "u"),
          ChatMessage(role: "assistant", content: "a"),
        ], addGenerationPrompt: true)
        == "[INST] S\n\nu [/INST]a</s>")
  }

  @Test(
    "a rendered SmolLM2 prompt tokenizes its markers as special tokens",
    .enabled(if: smolLM2Available))
  func renderedPromptTokens() throws {
    let tokenizer = try smolLM2Tokenizer()
    let text = ChatTemplate.chatML(defaultSystem: nil)
      .render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
    let ids = tokenizer.encode(text)
    #expect(ids.filter { $0 == tokenizer.id(of: "<|im_start|>") }.count == 2)
    #expect(ids.filter { $0 == tokenizer.id(of: ChatTemplate.chatML(defaultSystem: nil).endOfTurn) }.count == 1)
  }
}
