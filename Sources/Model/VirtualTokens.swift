/// Embeddings that stand in for token ids: a soft prompt's virtual tokens (prompt tuning).
///
/// In a token sequence, the id −1−k means "virtual token k": its input embedding is row k of the provider instead of
/// a row of the embedding matrix. Everything after the embedding (positions, attention, the KV cache) treats it like
/// any token, which is what PEFT's prompt tuning does by concatenating the prompt's embeddings before the input's.
public protocol VirtualTokenProvider: AnyObject {
  /// How many virtual tokens there are (ids −1 … −count).
  var virtualTokenCount: Int { get }
  /// The embedding of virtual token `index` (hiddenSize floats), valid while the provider lives.
  func virtualEmbedding(_ index: Int) -> UnsafePointer<Float>
}

/// The id convention for virtual tokens.
public enum VirtualToken {
  /// The id of virtual token `index`: −1 − index.
  public static func id(_ index: Int) -> Int32 { Int32(-1 - index) }
  /// The index of a virtual token id, or nil for an ordinary token id.
  public static func index(_ id: Int32) -> Int? { id < 0 ? Int(-1 - id) : nil }
  /// The ids of all `count` virtual tokens in order: what goes before every input.
  public static func prefix(_ count: Int) -> [Int32] { (0..<count).map(id) }
}
