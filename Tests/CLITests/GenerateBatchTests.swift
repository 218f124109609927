import Foundation
import Testing

@testable import edgetune

/// `edgetune generate --prompts` on the tiny llama fixture: one JSON line per prompt, bad lines named.
@Suite struct GenerateBatchTests {
  static let model = CLI.fixtures.appendingPathComponent("tiny/llama-mixed.tiny-gguf").path

  func write(_ text: String, in dir: URL) throws -> String {
    let path = dir.appendingPathComponent("prompts.jsonl").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  @Test func answersEveryPromptOnItsOwnLine() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let prompts = try write(
      """
      {"prompt": "Say 1."}

      {"prompt": [{"role": "user", "content": "Say 2."}]}
      {"prompt": "Say 3."}

      """, in: dir)
    let output = dir.appendingPathComponent("answers.jsonl").path
    let args = ["generate", "-m", Self.model, "--prompts", prompts, "--max-tokens", "4", "--seed", "5"]
    let result = try CLI.run(args + ["--output", output])
    #expect(result.status == 0, "\(result.stderr)")
    let text = try String(contentsOfFile: output, encoding: .utf8)
    let lines = text.split(separator: "\n")
    #expect(lines.count == 3)
    for (index, line) in lines.enumerated() {
      let answer = try JSONDecoder().decode(Generate.BatchAnswer.self, from: Data(line.utf8))
      #expect((0...4).contains(answer.tokens), "\(answer)")
      if index == 1 {
        #expect(answer.prompt == .array([.object(["role": .string("user"), "content": .string("Say 2.")])]))
      } else {
        #expect(answer.prompt == .string("Say \(index + 1)."))
      }
    }
    // Without --output the same lines go to stdout: seeds are per prompt, so the answers repeat.
    let stdout = try CLI.run(args)
    #expect(stdout.status == 0, "\(stdout.stderr)")
    #expect(stdout.stdout == text)
  }

  @Test func aBadLineIsNamed() throws {
    let dir = try CLI.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let prompts = try write("{\"prompt\": \"Say 1.\"}\n{\"prompt\": \"Say 2.\"\n", in: dir)
    let result = try CLI.run(["generate", "-m", Self.model, "--prompts", prompts, "--max-tokens", "4"])
    #expect(result.status != 0)
    #expect(result.exited, "the child died of a signal: a crash")
    #expect(result.stderr.contains(prompts) && result.stderr.contains("line 2"), "\(result.stderr)")
  }
}
