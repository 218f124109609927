import Testing
import Training

@Suite struct DataSourceSpecTests {
  @Test(arguments: [
    ("a.jsonl", "a.jsonl", 1.0), ("a.jsonl:2.5", "a.jsonl", 2.5), ("data/x:y.jsonl", "data/x:y.jsonl", 1),
    ("data/x:y.jsonl:3", "data/x:y.jsonl", 3), ("c:\\d.jsonl", "c:\\d.jsonl", 1), ("a.jsonl:1e-1", "a.jsonl", 0.1),
    ("a.jsonl:", "a.jsonl:", 1), (":2", ":2", 1), ("a:.", "a:.", 1),
  ])
  func parses(text: String, path: String, weight: Double) throws {
    #expect(try DataSourceSpec.parse(text) == DataSourceSpec(path: path, weight: weight))
  }

  @Test(arguments: ["a.jsonl:0", "a.jsonl:-1", "a.jsonl:1e999"])
  func rejectsNonPositiveWeights(text: String) {
    #expect(throws: TrainingError.self) { try DataSourceSpec.parse(text) }
  }
}
