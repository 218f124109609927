import Formats

/// The directory every selective result is saved in: adapter_config.json with `peft_type: "SELECTIVE"`, which tensors
/// trained (`"norms"`, `"head"`, `"last-layers"`) and the model's shape; adapter_model.safetensors with the changed
/// tensors alone, under their Hugging Face names. One writer and one reader for the three selective methods.
enum SelectiveFiles {
  static let peftType = "SELECTIVE"

  /// Writes `parameters` and a config of `fields` (JSON values, beside the common ones) atomically into `directory`.
  static func save(
    _ parameters: ParameterStore, to directory: String, baseModel: String?, overwrite: Bool, tensors: String,
    fields: [(String, String)]
  ) throws {
    let config =
      ([
        ("base_model_name_or_path", baseModel.map(PEFTJSON.quoted) ?? "null"), ("peft_type", "\"\(peftType)\""),
        ("tensors", "\"\(tensors)\""),
      ] + fields).sorted { $0.0 < $1.0 }
    try AdapterDirectory.save(to: directory, overwrite: overwrite) { temporary in
      try AdapterDirectory.writeFiles(in: temporary, config: config, parameters: parameters)
    }
  }

  /// The config of the selective result in `directory`, refusing one of another kind than `tensors`.
  static func config(in directory: String, tensors: String) throws -> (json: JSONObject, configPath: String) {
    let (configPath, _) = try AdapterDirectory.files(in: directory)
    let json = try AdapterDirectory.readConfig(configPath)
    guard try json.optionalString("peft_type") == peftType, try json.optionalString("tensors") == tensors else {
      throw TrainingError.checkpoint(path: configPath, reason: "not a selective (\(tensors)) result")
    }
    return (json, configPath)
  }

  /// Reads the saved tensors into `parameters`, refusing missing, unknown or misshapen ones.
  static func readTensors(from directory: String, into parameters: ParameterStore) throws {
    let (_, weightsPath) = try AdapterDirectory.files(in: directory)
    try AdapterDirectory.readTensors(into: parameters, from: try SafetensorsFile(path: weightsPath))
  }
}
