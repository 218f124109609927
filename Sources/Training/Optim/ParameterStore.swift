public import Memory

/// One trainable tensor inside a `ParameterStore`: its name, row-major shape and where its elements live.
///
/// `value` and `gradient` are borrowed views into the store's two buffers: valid while the store lives (the store
/// is their one owner, STYLE.md convention 1). `range` is the tensor's place in the store's flat layout, which the
/// optimizer state shares, so the same range addresses the tensor's AdamW moments.
public struct ParameterTensor: @unchecked Sendable {
  // @unchecked Sendable: the pointers are views into the store's buffers; writers split work by tensor.
  public let name: String
  /// Row-major, outermost first (a LoRA A is [rank, inFeatures]).
  public let shape: [Int]
  /// Elements: the product of `shape`.
  public let count: Int
  /// First element in the store's flat layout (a multiple of `ParameterStore.alignment`).
  public let offset: Int
  /// fp32 values (count).
  public let value: UnsafeMutableBufferPointer<Float>
  /// fp32 gradient (count), accumulated by backward passes, zeroed by `ParameterStore.zeroGradients()`.
  public let gradient: UnsafeMutableBufferPointer<Float>

  public var range: Range<Int> { offset..<(offset + count) }
}

/// The trainable parameters of a method (LoRA's A and B, a soft prompt, selected layers): every tensor's fp32 value
/// and gradient, in two `AnonymousBuffer`s reserved in the run's ledger ("<label>" and "<label>.gradients").
///
/// Small tensors and big ones take the same path: one flat layout with each tensor starting on a 1 KiB boundary.
/// Padding elements are zero and stay zero (zero gradient, zero value), so whole-buffer passes (the gradient norm,
/// an optimizer over a range) need no special case for them.
public final class ParameterStore {
  /// Tensor starts are rounded up to this many floats: a multiple of a cache line and of the 256-element blocks of
  /// 8-bit optimizer state, so a tensor's blocks are the layout's blocks (at most 1 KiB of padding per tensor).
  public static let alignment = 256

  /// Elements a tensor of `count` elements occupies in the store's flat layout (padded to `alignment`).
  public static func paddedCount(_ count: Int) -> Int { (count + alignment - 1) / alignment * alignment }

  /// Bytes of values (or of gradients) a store of tensors with these shapes reserves, computed without allocating.
  public static func plannedBytes(shapes: [(name: String, shape: [Int])]) -> Int {
    shapes.reduce(0) { $0 + paddedCount($1.shape.reduce(1, *)) } * MemoryLayout<Float>.stride
  }

  public let tensors: [ParameterTensor]
  /// Elements in the flat layout, padding included: the size of each buffer and of each optimizer moment.
  public let count: Int
  public let label: String
  private let values: AnonymousBuffer<Float>
  private let gradients: AnonymousBuffer<Float>
  private let index: [String: Int]

  /// Allocates zeroed values and gradients for `specs` (name, shape), in order.
  /// Names must be unique and dimensions positive (programmer errors: specs come from code, not from users).
  public init(_ specs: [(name: String, shape: [Int])], label: String, ledger: MemoryLedger) throws(MemoryError) {
    var offsets: [Int] = []
    var counts: [Int] = []
    var total = 0
    var index: [String: Int] = [:]
    for (i, spec) in specs.enumerated() {
      precondition(index[spec.name] == nil, "duplicate parameter name \(spec.name)")
      precondition(!spec.shape.isEmpty && spec.shape.allSatisfy { $0 > 0 }, "bad shape \(spec.shape) of \(spec.name)")
      index[spec.name] = i
      let n = spec.shape.reduce(1, *)
      offsets.append(total)
      counts.append(n)
      total += Self.paddedCount(n)
    }
    let values = try AnonymousBuffer<Float>(count: total, label: label, ledger: ledger)
    let gradients = try AnonymousBuffer<Float>(count: total, label: label + ".gradients", ledger: ledger)
    var tensors: [ParameterTensor] = []
    for (i, spec) in specs.enumerated() {
      tensors.append(
        ParameterTensor(
          name: spec.name, shape: spec.shape, count: counts[i], offset: offsets[i],
          value: UnsafeMutableBufferPointer(start: values.pointer + offsets[i], count: counts[i]),
          gradient: UnsafeMutableBufferPointer(start: gradients.pointer + offsets[i], count: counts[i])))
    }
    self.tensors = tensors
    self.count = total
    self.label = label
    self.index = index
    self.values = values
    self.gradients = gradients
  }

  public subscript(name: String) -> ParameterTensor? { index[name].map { tensors[$0] } }

  /// Elements that are real parameters (padding excluded).
  public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }

  /// All values in the flat layout (count), padding included.
  public var allValues: UnsafeMutableBufferPointer<Float> { values.buffer }

  /// All gradients in the flat layout (count), padding included.
  public var allGradients: UnsafeMutableBufferPointer<Float> { gradients.buffer }

  /// Sets every gradient to zero (before a new accumulation).
  public func zeroGradients() { gradients.zero() }
}
