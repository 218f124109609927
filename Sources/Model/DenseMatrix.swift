/// A matrix held as fp32 rows in memory that someone else owns (a trainable copy in a parameter store), seen as a
/// `FrozenMatrix` so every path that decodes frozen matrices (the training graph, the inference session, converters
/// and exporters) uses it unchanged: decoding is a copy.
public struct DenseMatrix: FrozenMatrix, @unchecked Sendable {
  // @unchecked Sendable: a read-only view while passes run; the owner writes only between passes (optimizer steps).
  public let values: UnsafePointer<Float>
  public let rows: Int
  public let cols: Int
  public let name: String

  public init(values: UnsafePointer<Float>, rows: Int, cols: Int, name: String) {
    self.values = values
    self.rows = rows
    self.cols = cols
    self.name = name
  }

  public func decodeRows(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
    destination.update(from: values + range.lowerBound * cols, count: range.count * cols)
  }

  public var fileRange: Range<Int> { 0..<0 }
  public var storageBytes: Int { rows * cols * MemoryLayout<Float>.stride }
}
