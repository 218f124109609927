import Formats

/// The directory every selective result is saved in: adapter_config.json (`SelectiveAdapterConfig`: which tensors
/// trained and the model's shape); adapter_model.safetensors with the changed tensors alone, under their Hugging Face
/// names. One writer and one reader for the three selective methods.
enum SelectiveFiles {
  static let peftType = "SELECTIVE"

  /// Writes `parameters` and `config` atomically into `directory`.
  static func save(
    _ parameters: ParameterStore, to directory: String, overwrite: Bool, config: SelectiveAdapterConfig
  ) throws {
    try AdapterDirectory.save(to: directory, overwrite: overwrite) { temporary in
      try AdapterDirectory.writeFiles(in: temporary, config: config, parameters: parameters)
    }
  }

  /// The config of the selective result in `directory`, refusing one of another kind than `tensors`.
  static func config(in directory: String, tensors: String) throws -> (
    config: SelectiveAdapterConfig, configPath: String
  ) {
    let (configPath, _) = try AdapterDirectory.files(in: directory)
    let config = try TrainingJSON.read(SelectiveAdapterConfig.self, path: configPath)
    guard config.peftType == peftType, config.tensors == tensors else {
      throw TrainingError.checkpoint(path: configPath, reason: "not a selective (\(tensors)) result")
    }
    return (config, configPath)
  }

  /// Reads the saved tensors into `parameters`, refusing missing, unknown or misshapen ones.
  static func readTensors(from directory: String, into parameters: ParameterStore) throws {
    let (_, weightsPath) = try AdapterDirectory.files(in: directory)
    try AdapterDirectory.readTensors(into: parameters, from: try SafetensorsFile(path: weightsPath))
  }
}
