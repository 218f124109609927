import ArgumentParser
import Foundation
import Memory
import Model
import Training

/// `edgetune score`: one reward from a reward model.
struct Score: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print a reward model's score of a completion to a prompt.",
    discussion: """
      The prompt and completion are rendered as a user turn and an assistant turn with the model's chat template \
      (as conversational preference data is), or concatenated as they are with --raw (as string-format data is); \
      the score is the reward model's output at the last token.
      """)

  @OptionGroup var model: ModelOptions
  @OptionGroup var threads: ThreadOptions
  @OptionGroup var budget: BudgetOptions

  @Option(help: "The reward model (a directory written by `train reward`).")
  var reward: String

  @Option(help: "The prompt (a user message).")
  var prompt: String

  @Option(help: "The completion to score (the assistant's answer).")
  var completion: String

  @Flag(help: "Concatenate prompt and completion as they are instead of rendering chat turns.")
  var raw = false

  @Option(help: "Longest sequence in tokens (longer ones are truncated, as in training).")
  var seqLen: Int = 512

  @Flag(help: "Print JSON ({\"score\", \"tokens\", \"ids\"}: the scored token ids too).")
  var json = false

  func validate() throws {
    guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
      throw ValidationError("--prompt is empty")
    }
    guard !completion.isEmpty else { throw ValidationError("--completion is empty") }
    guard seqLen >= 2 else { throw ValidationError("--seq-len must be at least 2") }
  }

  func run() throws {
    threads.apply()
    let session = try RewardSession(
      model: model.model, reward: reward, rowTokens: seqLen, seqLen: seqLen, rawPairs: raw, budget: budget,
      dataPath: nil)
    let record: DataRecord =
      raw
      ? .promptCompletion(prompt: prompt, completion: completion)
      : .conversationalPromptCompletion(
        prompt: [ChatMessage(role: "user", content: prompt)],
        completion: [ChatMessage(role: "assistant", content: completion)])
    let tokens = try session.encoder.encode(record).tokens
    let score = try session.reward.score(Array(tokens.prefix(seqLen)), graph: session.graph)
    if json {
      try Output.json(Result(score: score, tokens: min(tokens.count, seqLen), ids: tokens.prefix(seqLen).map(Int.init)))
    } else {
      Output.result(String(format: "%.6f", score))
    }
    try budget.requireKept()
  }

  /// `score --json`: the score and the token ids it was computed over (truncated to --seq-len, as in training).
  struct Result: Codable {
    var score: Double
    var tokens: Int
    var ids: [Int]
  }
}
