import Foundation
import Memory
import Testing

@testable import edgetune

/// Each verb end to end on the real model, through the executable.
@Suite(.enabled(if: CLI.haveModel, "SmolLM2 GGUF not fetched (run Tools/fetch-model)"))
struct CommandTests {
  @Test(arguments: ["inspect", "tokenize", "generate", "eval"])
  func helpDescribesEveryVerb(verb: String) throws {
    let result = try CLI.run([verb, "--help"])
    #expect(result.status == 0)
    #expect(result.stdout.contains("USAGE: edgetune \(verb)"))
  }

  @Test func inspectReportsTheModel() throws {
    let result = try CLI.run(["inspect", CLI.modelPath, "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let json = try result.decoded(Inspect.Result.self)
    #expect(json.format == "gguf" && json.version == 3)
    #expect(json.parameters == 134_515_008)
    #expect(json.tensors.count == 272)
    #expect(json.tensorTypes == ["F32": 61, "Q4_1": 210, "Q8_0": 1])
    let text = try CLI.run(["inspect", CLI.modelPath])
    #expect(text.stdout.contains("bits per weight") && text.stdout.contains("blk.0.attn_q.weight"))
  }

  @Test func tokenizeMatchesTheReferenceIDs() throws {
    let result = try CLI.run([
      "tokenize", "-m", CLI.modelPath, "--text", "<|im_start|>user\nIn 2024, 3 cats.<|im_end|>", "--json",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let json = try result.decoded(Tokenize.Result.self)
    // ids from the Hugging Face tokenizer (Tools/reference/make_tokenizer_goldens.py construction).
    #expect(json.ids.first == 1 && json.ids.last == 2 && json.count == json.ids.count)
    #expect(json.decoded == "<|im_start|>user\nIn 2024, 3 cats.<|im_end|>")
  }

  @Test func evalMatchesTheReferencePerplexity() throws {
    let text = CLI.fixtures.appendingPathComponent("eval_text.txt").path
    let result = try CLI.run(["eval", "-m", CLI.modelPath, "--text", text, "--context", "128", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let json = try result.decoded(CommandReport<Eval.TextResult>.self).result
    // Tools/reference/llama_reference.py: 577 tokens, perplexity 39.839827906577284.
    #expect(json.tokens == 577 && json.context == 128)
    #expect(abs(json.perplexity - 39.839827906577284) / 39.84 < 5e-5)
    // The names scripts read (Tools/rlhf-demo: perplexity; compare-methods: exact_match with --data).
    let keys = try result.decoded(JSONKeys.self).keys
    #expect(
      keys == [
        "mean_loss", "perplexity", "tokens", "predicted", "context", "tokens_per_second", "peak_rss_bytes",
        "ledger_peak_bytes", "ledger_peak_bytes_by_label",
      ])
  }

  /// The weights stay in the mapping: generate's anonymous memory is far below the 92 MiB of weights, while its
  /// file-backed pages hold them. Figures are the child's own /proc/self/status at exit.
  @Test func generateKeepsWeightsOutOfTheHeap() throws {
    let result = try CLI.run([
      "generate", "-m", CLI.modelPath, "--chat", "What is the capital of France? Answer in one word.", "--temperature",
      "0",
      "--max-tokens", "24", "--json",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let json = try result.decoded(CommandReport<Generate.Result>.self)
    #expect(json.result.text.contains("Paris"))
    let anonymous = json.result.rssAnonBytes
    let peak = json.memory.peakRSSBytes
    // 92 MiB of weights; our own buffers for 66 positions are < 10 MiB; the Swift runtime and Foundation ~10 MiB.
    #expect(anonymous < 40 << 20, "RssAnon \(anonymous)")
    #expect(peak < 200 << 20, "VmHWM \(peak)")
  }

  @Test func seededSamplingIsReproducible() throws {
    let args = [
      "generate", "-m", CLI.modelPath, "--prompt", "Once upon a time", "--max-tokens", "12", "--seed", "7", "--json",
    ]
    let a = try CLI.run(args).decoded(CommandReport<Generate.Result>.self).result
    let b = try CLI.run(args).decoded(CommandReport<Generate.Result>.self).result
    #expect(!a.generatedIDs.isEmpty && a.generatedIDs == b.generatedIDs)
  }
}
