extension ModelFileSummary {
  /// `inspect --json`: the file's format, size, parameter count and bits per weight, its metadata and every tensor.
  /// A version or a tensor's size the format does not record is null (the key stays, for scripts).
  public struct Document: Codable {
    public var path: String
    public var format: String
    public var version: Int?
    public var fileBytes: Int
    public var parameters: Int
    public var tensorBytes: Int
    public var bitsPerWeight: Double
    public var metadata: [String: String]
    /// How many tensors of each storage type.
    public var tensorTypes: [String: Int]
    public var tensors: [Tensor]

    /// One tensor as stored.
    public struct Tensor: Codable {
      public var name: String
      public var shape: [Int]
      public var type: String
      public var bytes: Int?
      public var bitsPerWeight: Double?

      enum CodingKeys: String, CodingKey {
        case name, shape, type, bytes
        case bitsPerWeight = "bits_per_weight"
      }

      public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(shape, forKey: .shape)
        try c.encode(type, forKey: .type)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(bitsPerWeight, forKey: .bitsPerWeight)
      }
    }

    enum CodingKeys: String, CodingKey {
      case path, format, version, parameters, metadata, tensors
      case fileBytes = "file_bytes"
      case tensorBytes = "tensor_bytes"
      case bitsPerWeight = "bits_per_weight"
      case tensorTypes = "tensor_types"
    }

    public func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(path, forKey: .path)
      try c.encode(format, forKey: .format)
      try c.encode(version, forKey: .version)
      try c.encode(fileBytes, forKey: .fileBytes)
      try c.encode(parameters, forKey: .parameters)
      try c.encode(tensorBytes, forKey: .tensorBytes)
      try c.encode(bitsPerWeight, forKey: .bitsPerWeight)
      try c.encode(metadata, forKey: .metadata)
      try c.encode(tensorTypes, forKey: .tensorTypes)
      try c.encode(tensors, forKey: .tensors)
    }
  }
}
