/// Decoding errors of small JSON documents (a run's report, adapter_config.json, trainer_state.json) in the
/// document's own key names, for messages a user can act on.
extension DecodingError {
  /// "it has no \"loss_curve\"", "\"steps\" is not a number", "\"objective.position\" is null where a number belongs".
  public var keyedDescription: String {
    func place(_ path: [any CodingKey]) -> String {
      path.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined().drop { $0 == "." }.description
    }
    switch self {
    case .keyNotFound(let key, let context):
      let inside = context.codingPath.isEmpty ? "" : " in \"\(place(context.codingPath))\""
      return "it has no \"\(key.stringValue)\"\(inside)"
    case .typeMismatch(let type, let context):
      return "\"\(place(context.codingPath))\" is not \(Self.kind(type))"
    case .valueNotFound(let type, let context):
      return "\"\(place(context.codingPath))\" is null where \(Self.kind(type)) belongs"
    case .dataCorrupted(let context):
      return context.codingPath.isEmpty
        ? "it is not valid JSON" : "\"\(place(context.codingPath))\": \(context.debugDescription)"
    @unknown default:
      return "\(self)"
    }
  }

  /// "a number", "text", "a list", "an object" for the Swift type a JSON value should have decoded to.
  static func kind(_ type: Any.Type) -> String {
    switch type {
    case is Int.Type, is UInt64.Type, is Double.Type: return "a number"
    case is String.Type: return "text"
    case is Bool.Type: return "true or false"
    case is [Any].Type: return "a list"
    default:
      let name = "\(type)"
      if name.hasPrefix("Array") { return "a list" }
      if name.hasPrefix("Dictionary") || name.contains("KeyedDecodingContainer") { return "an object" }
      return "a \(name)"
    }
  }
}
