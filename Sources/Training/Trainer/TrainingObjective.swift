import Foundation
internal import Model

/// What an optimizer step minimizes and where its data comes from: next-token cross-entropy on a batch stream
/// (`SupervisedObjective`), the pairwise ranking loss of a reward model, DPO, PPO's clipped losses. The `Trainer`
/// owns what they share (graph, optimizer, schedule, clipping, checkpoints); an objective only accumulates one
/// step's gradients and evaluates held-out data.
public protocol TrainingObjective: AnyObject {
  /// Accumulates d(step loss)/dθ into `method.parameters` (zeroed by the caller) for step `step` (0-based) and
  /// says what the step did. `counted` 0 means there was nothing to learn from (no optimizer update).
  func accumulateStep(_ step: Int, graph: TrainingGraph, method: any TrainableMethod) throws -> ObjectiveStep
  /// Held-out figures (the main one under "loss"), or nil without held-out data.
  func evaluate(graph: TrainingGraph, method: any TrainableMethod) throws -> [String: Double]?
  /// The data position a checkpoint saves (under "objective" in trainer_state.json), and its restoration: the run
  /// continues exactly where it stopped, or is refused when the data differ.
  associatedtype CheckpointState: Codable
  var checkpointState: CheckpointState { get }
  func restore(_ state: CheckpointState) throws
}

/// One step's result as an objective reports it.
public struct ObjectiveStep: Sendable {
  /// The step's mean loss.
  public var loss: Double
  /// Units the loss is a mean over (targeted tokens, pairs); 0 = no update.
  public var counted: Int
  /// Tokens processed (for tokens/s).
  public var tokens: Int
  /// Objective-specific figures for the progress bar and report (accuracy, margin, KL, …).
  public var metrics: [String: Double]

  public init(loss: Double, counted: Int, tokens: Int, metrics: [String: Double] = [:]) {
    self.loss = loss
    self.counted = counted
    self.tokens = tokens
    self.metrics = metrics
  }
}
