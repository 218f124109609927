/// trainer_state.json in a checkpoint directory: the optimizer steps taken and the objective's data position
/// (`TrainingObjective.CheckpointState`: the batch stream's, or the pair or prompt schedule's), written compact with
/// sorted keys. The optimizer state and the adapter sit beside it in their own files.
struct TrainerState<Objective: Codable>: Codable {
  var step: Int
  var objective: Objective

  static var fileName: String { "trainer_state.json" }
}
