import ArgumentParser
import Model

/// `edgetune tokenize`: the ids a model's tokenizer gives a text.
struct Tokenize: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Show the token ids of a text under a model's tokenizer.")

  @OptionGroup var model: ModelOptions

  @Option(help: "The text to tokenize.")
  var text: String

  @Flag(help: "Treat special-token text such as <|im_start|> as plain text.")
  var noSpecial = false

  @Flag(help: "Print JSON on stdout.")
  var json = false

  func run() throws {
    let tokenizer = try ModelLoader.tokenizer(path: model.model)
    let ids = tokenizer.encode(text, parseSpecial: !noSpecial)
    if json {
      try Output.json(
        Result(
          ids: ids.map(Int.init), tokens: ids.map { tokenizer.token(of: $0) ?? "" }, count: ids.count,
          decoded: tokenizer.decode(ids)))
    } else {
      Output.result(ids.map(String.init).joined(separator: " "))
      Output.diagnostic(
        "\(ids.count) tokens: " + ids.map { "\(tokenizer.token(of: $0) ?? "?")" }.joined(separator: " | "))
    }
  }

  /// `tokenize --json`: the ids, each one's token text, their count and the text they decode to.
  struct Result: Codable {
    var ids: [Int]
    var tokens: [String]
    var count: Int
    var decoded: String
  }
}
