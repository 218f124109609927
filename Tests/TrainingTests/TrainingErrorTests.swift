import Testing
import Training

@Suite struct TrainingErrorTests {
  @Test func descriptionsNameWhereTheProblemIs() {
    #expect(TrainingError.badLine(path: "d.jsonl", line: 7, reason: "not JSON").description == "d.jsonl:7: not JSON")
    #expect(TrainingError.unknownTarget(name: "qq", known: ["q", "v"]).description.contains("'qq'"))
  }
}
