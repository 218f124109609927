import Model
import Testing
import Training

/// Loss masks per record shape: the trained tokens decode to exactly the completion (plus EOS) or the assistant
/// turns (content plus end-of-turn), never the prompt or a template header.
@Suite struct DataExampleEncoderTests {
  static let conversation = [
    ChatMessage(role: "system", content: "Be brief."),
    ChatMessage(role: "user", content: "What is 2+2?"),
    ChatMessage(role: "assistant", content: "4."),
    ChatMessage(role: "user", content: "And 3+3?"),
    ChatMessage(role: "assistant", content: "Six, since 3+3=6."),
  ]

  @Test func textTrainsEveryTokenAndEndsWithEOS() throws {
    let model = try DataFixtures.tinyModel()
    let encoder = ExampleEncoder(model: model)
    let example = try encoder.encode(.text("hello world"))
    let eos = try #require(model.eosID)
    #expect(example.tokens == model.encodePrompt("hello world") + [eos])
    #expect(example.lossMask.allSatisfy { $0 })
    #expect(example.targets.last == -1)
    #expect(Array(example.targets.dropLast()) == Array(example.tokens.dropFirst()))

    let bare = try ExampleEncoder(model: model, options: DataOptions(appendEOS: false)).encode(.text("hello world"))
    #expect(bare.tokens == model.encodePrompt("hello world"))
    // Text already ending in EOS gets no second one.
    let ended = try encoder.encode(.text("hello world<|im_end|>"))
    #expect(ended.tokens == bare.tokens + [eos])
  }

  @Test(arguments: [("Question: 2+2? Answer:", " 4"), ("Hel", "lo world"), ("", "only completion"), ("p\n", "\nq")])
  func promptCompletionTrainsTheCompletionAndEOS(prompt: String, completion: String) throws {
    let model = try DataFixtures.tinyModel()
    let example = try ExampleEncoder(model: model, options: DataOptions(rawPairs: true)).encode(
      .promptCompletion(prompt: prompt, completion: completion))
    let eosText = model.tokenizer.decode([try #require(model.eosID)])
    #expect(example.tokens == model.encodePrompt(prompt + completion) + [model.eosID!])
    let runs = DataFixtures.maskedRuns(example, model.tokenizer)
    #expect(runs.count == 1)
    // A token straddling the prompt/completion boundary counts as trained, so the run may start inside the prompt.
    #expect(try #require(runs.first).hasSuffix(completion + eosText))
    #expect((prompt + completion + eosText).hasSuffix(runs[0]))
    let untrained = example.tokens.indices.filter { !example.lossMask[$0] }.map { example.tokens[$0] }
    #expect(prompt.hasPrefix(model.tokenizer.decode(untrained)))
  }

  @Test func trainOnPromptTrainsEverything() throws {
    let model = try DataFixtures.tinyModel()
    let encoder = ExampleEncoder(model: model, options: DataOptions(trainOnPrompt: true))
    for record in [
      DataRecord.promptCompletion(prompt: "a b", completion: " c"), .messages(Self.conversation),
      .conversationalPromptCompletion(prompt: Array(Self.conversation[..<2]), completion: [Self.conversation[2]]),
    ] {
      let example = try encoder.encode(record)
      #expect(example.targetCount == example.count - 1)
    }
  }

  @Test func messagesTrainAssistantContentAndEndOfTurn() throws {
    let model = try DataFixtures.tinyModel()
    let example = try ExampleEncoder(model: model).encode(.messages(Self.conversation))
    #expect(
      example.tokens == model.encodePrompt(model.chatTemplate.render(Self.conversation, addGenerationPrompt: false)))
    #expect(DataFixtures.maskedRuns(example, model.tokenizer) == ["4.<|im_end|>", "Six, since 3+3=6.<|im_end|>"])
  }

  @Test func conversationalPromptCompletionTrainsTheCompletionTurn() throws {
    let model = try DataFixtures.tinyModel()
    let record = DataRecord.conversationalPromptCompletion(
      prompt: Array(Self.conversation[..<4]), completion: [Self.conversation[4]])
    let example = try ExampleEncoder(model: model).encode(record)
    #expect(DataFixtures.maskedRuns(example, model.tokenizer) == ["Six, since 3+3=6.<|im_end|>"])
    #expect(example.tokens.last == model.tokenizer.encode("\n").last, "ChatML's newline after <|im_end|> is kept")
  }

  /// The incremental-prefix method on each template shape; the tiny tokenizer has none of these markers as
  /// special tokens, so they are plain bytes here, which exercises boundaries inside ordinary BPE text.
  @Test(arguments: [
    ("{{'<|start_header_id|>'}}", "<|eot_id|>"), ("{{'<|user|>'}}", "</s>"), ("{{'[INST]'}}", "</s>"),
    ("{{'<|im_start|>'}}", "<|im_end|>"),
  ])
  func everyTemplateShapeMasksAssistantTurns(jinja: String, endOfTurn: String) throws {
    let model = try DataFixtures.tinyModel()
    let template = try ChatTemplate(jinja: jinja)
    #expect(template.endOfTurn == endOfTurn)
    let encoder = ExampleEncoder(tokenizer: model.tokenizer, chatTemplate: template, eosID: model.eosID)
    let example = try encoder.encode(.messages(Self.conversation))
    #expect(example.tokens == model.tokenizer.encode(template.render(Self.conversation, addGenerationPrompt: false)))
    #expect(DataFixtures.maskedRuns(example, model.tokenizer) == ["4." + endOfTurn, "Six, since 3+3=6." + endOfTurn])
  }

  @Test func conversationWithoutAssistantHasNothingToTrain() throws {
    let model = try DataFixtures.tinyModel()
    let example = try ExampleEncoder(model: model).encode(.messages([ChatMessage(role: "user", content: "hi")]))
    #expect(example.targetCount == 0)
  }

  @Test func assistantFirstUnderADefaultSystemPromptIsABadRecord() throws {
    let model = try DataFixtures.tinyModel()
    let template = ChatTemplate.chatML(defaultSystem: "You are helpful.")
    let encoder = ExampleEncoder(tokenizer: model.tokenizer, chatTemplate: template, eosID: model.eosID)
    #expect(throws: DataRecordError.self) {
      try encoder.encode(.messages([ChatMessage(role: "assistant", content: "Hi!")]))
    }
  }

  // MARK: SmolLM2 (real tokenizer with special tokens, ChatML with a default system prompt)

  @Test(.enabled(if: DataFixtures.haveGGUF)) func smolLM2MessagesMaskAssistantTurns() throws {
    let model = try DataFixtures.smolLM2()
    let encoder = ExampleEncoder(model: model)
    let conversation = Array(Self.conversation.dropFirst())  // the template inserts its own system prompt
    let example = try encoder.encode(.messages(conversation))
    let rendered = model.chatTemplate.render(conversation, addGenerationPrompt: false)
    #expect(rendered.hasPrefix("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"))
    #expect(example.tokens == model.encodePrompt(rendered))
    #expect(DataFixtures.maskedRuns(example, model.tokenizer) == ["4.<|im_end|>", "Six, since 3+3=6.<|im_end|>"])
    let endOfTurn = try #require(model.tokenizer.id(of: "<|im_end|>"))
    // Both end-of-turn tokens after assistant content are trained, the ones after system and user are not.
    let trainedEnds = example.tokens.indices.filter { example.tokens[$0] == endOfTurn && example.lossMask[$0] }
    #expect(trainedEnds.count == 2)
    #expect(example.tokens.filter { $0 == endOfTurn }.count == 5)
  }

  @Test(.enabled(if: DataFixtures.haveGGUF)) func smolLM2PromptCompletionAndText() throws {
    let model = try DataFixtures.smolLM2()
    let eos = try #require(model.eosID)
    let eosText = model.tokenizer.decode([eos])
    let encoder = ExampleEncoder(model: model, options: DataOptions(rawPairs: true))
    let pair = try encoder.encode(.promptCompletion(prompt: "The capital of France is", completion: " Paris."))
    #expect(DataFixtures.maskedRuns(pair, model.tokenizer) == [" Paris." + eosText])
    let text = try encoder.encode(.text("Paris is the capital of France."))
    #expect(text.tokens == model.encodePrompt("Paris is the capital of France.") + [eos])
    #expect(text.targetCount == text.count - 1)
    let chat = try encoder.encode(
      .conversationalPromptCompletion(
        prompt: [ChatMessage(role: "user", content: "Capital of France?")],
        completion: [ChatMessage(role: "assistant", content: "Paris.")]))
    #expect(DataFixtures.maskedRuns(chat, model.tokenizer) == ["Paris.<|im_end|>"])
  }

  /// "Hel" + "lo world" tokenizes as "Hello", " world": the prompt's own tokens are not a prefix of the whole, and
  /// the token holding bytes of both sides is trained.
  @Test(.enabled(if: DataFixtures.haveGGUF)) func smolLM2TokenStraddlingTheBoundaryIsTrained() throws {
    let model = try DataFixtures.smolLM2()
    let whole = model.tokenizer.encode("Hello world")
    #expect(!whole.starts(with: model.tokenizer.encode("Hel")))
    let example = try ExampleEncoder(model: model, options: DataOptions(appendEOS: false, rawPairs: true)).encode(
      .promptCompletion(prompt: "Hel", completion: "lo world"))
    #expect(example.tokens == whole)
    #expect(DataFixtures.maskedRuns(example, model.tokenizer) == ["Hello world"])
  }

  /// A chat model's default: a plain pair is the same example as that pair written as messages (tokens and loss
  /// mask), and `rawPairs` gives the raw text instead. ExactMatch renders the prompt the same way.
  @Test(.enabled(if: DataFixtures.haveGGUF)) func smolLM2PlainPairsGoThroughTheChatTemplate() throws {
    let model = try DataFixtures.smolLM2()
    let (prompt, completion) = ("What is 12 March 2021 in YYYY-MM-DD format?", "2021-03-12")
    let plain = DataRecord.promptCompletion(prompt: prompt, completion: completion)
    let messages = DataRecord.messages([
      ChatMessage(role: "user", content: prompt), ChatMessage(role: "assistant", content: completion),
    ])
    let encoder = ExampleEncoder(model: model)
    #expect(encoder.pairRendering == .chatTemplate)
    let fromPair = try encoder.encode(plain)
    let fromMessages = try encoder.encode(messages)
    #expect(fromPair.tokens == fromMessages.tokens && fromPair.lossMask == fromMessages.lossMask)
    #expect(model.tokenizer.decode(fromPair.tokens).contains("<|im_start|>user\n" + prompt + "<|im_end|>"))
    #expect(DataFixtures.maskedRuns(fromPair, model.tokenizer) == [completion + "<|im_end|>"])

    let raw = ExampleEncoder(model: model, options: DataOptions(rawPairs: true))
    #expect(raw.pairRendering == .raw)
    let rawExample = try raw.encode(plain)
    #expect(rawExample.tokens == model.encodePrompt(prompt + completion) + [model.eosID!])
    #expect(rawExample.tokens != fromPair.tokens)
  }

  /// A model without a chat template of its own trains pairs as raw text whatever the option says.
  @Test func modelsWithoutATemplateTrainPairsRaw() throws {
    let template = try ChatTemplate(jinja: nil)
    #expect(PairRendering(template: template, raw: false) == .raw)
    let pair = DataRecord.promptCompletion(prompt: "a", completion: "b")
    #expect(PairRendering.raw.apply(to: pair) == pair)
    #expect(
      PairRendering.chatTemplate.apply(to: pair)
        == .conversationalPromptCompletion(
          prompt: [ChatMessage(role: "user", content: "a")], completion: [ChatMessage(role: "assistant", content: "b")])
    )
  }
}
