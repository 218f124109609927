import Foundation
import Testing

@testable import Training

/// trainer_state.json as a Codable type: the files the JSONSerialization-era trainer wrote (copied from its
/// checkpoints) still decode and encode back to the same bytes, and a damaged one names the file and the key.
@Suite struct TrainerStateTests {
  /// A supervised run's state after 2 steps (the picker's state is above Int64.max: it must not pass through Double).
  static let supervised = """
    {"objective":{"batches":2,"mixture":{"drawn":2,"epochs":[0],"picker":{"state":15115321711303791145},\
    "positions":[2],"seed":0,"shuffle":true,"sourceCounts":[184],"weights":[1]}},"step":2}
    """
  /// A DPO or reward-model run's pair schedule after 2 steps.
  static let pairs = #"{"objective":{"count":260,"epoch":0,"position":2,"seed":0},"step":2}"#

  /// `text` as trainer_state.json in a fresh directory, which the caller removes.
  static func write(_ text: String) throws -> String {
    let path = try AdapterTestSupport.scratchDirectory("trainer-state") + "/trainer_state.json"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  static func remove(_ path: String) {
    try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
  }

  @Test func earlierStatesDecodeAndEncodeToTheSameBytes() throws {
    let (supervisedPath, pairsPath) = (try Self.write(Self.supervised), try Self.write(Self.pairs))
    defer { [supervisedPath, pairsPath].forEach(Self.remove) }
    let supervised = try TrainingJSON.read(TrainerState<BatchStream.State>.self, path: supervisedPath)
    #expect(supervised.step == 2 && supervised.objective.batches == 2)
    #expect(supervised.objective.mixture.sourceCounts == [184])
    #expect(String(decoding: try TrainingJSON.encoded(supervised, pretty: false), as: UTF8.self) == Self.supervised)
    let pairs = try TrainingJSON.read(TrainerState<PairSchedule>.self, path: pairsPath)
    #expect(pairs.step == 2 && pairs.objective.count == 260 && pairs.objective.position == 2)
    #expect(String(decoding: try TrainingJSON.encoded(pairs, pretty: false), as: UTF8.self) == Self.pairs)
  }

  @Test(arguments: [
    (#"{"objective":{"count":260,"epoch":0,"position":2,"seed":0}}"#, #"it has no "step""#),
    (#"{"objective":{"count":260,"epoch":0,"seed":0},"step":2}"#, #"it has no "position" in "objective""#),
    (
      #"{"objective":{"count":260,"epoch":0,"position":"2","seed":0},"step":2}"#,
      #""objective.position" is not a number"#
    ),
    (#"{"objective":{"count":260,"epoch":0,"position":300,"seed":0},"step":2}"#, "inconsistent pair schedule"),
    (#"{"objective":"#, "it is not valid JSON"),
  ])
  func damagedStatesNameTheFileAndTheKey(text: String, reason: String) throws {
    let path = try Self.write(text)
    defer { Self.remove(path) }
    let error = #expect(throws: TrainingError.self) {
      try TrainingJSON.read(TrainerState<PairSchedule>.self, path: path)
    }
    #expect(error?.description.hasPrefix(path) == true && error?.description.contains(reason) == true, "\(error!)")
  }
}
