/// NF4 quantization with bitsandbytes' exact arithmetic, so codes and scales match its algorithm bit for bit.
/// Every step is one fp32 operation in the order the SPEC gives (Swift never contracts a*b+c into an FMA).
/// ref: Tools/reference/nf4_reference.py (SPEC sections 2 and 5); bitsandbytes kQuantizeBlockwise, dQuantizeNF4.
public enum NF4Quantizer {
  /// Sizes of one tensor's NF4 parts.
  public struct Layout: Sendable, Equatable {
    public let count: Int
    public let blockSize: Int
    public let nestedBlockSize: Int
    public init(count: Int, blockSize: Int = 64, nestedBlockSize: Int = 256) {
      self.count = count
      self.blockSize = blockSize
      self.nestedBlockSize = nestedBlockSize
    }
    public var blocks: Int { (count + blockSize - 1) / blockSize }
    public var nestedBlocks: Int { (blocks + nestedBlockSize - 1) / nestedBlockSize }
    public var packedBytes: Int { (count + 1) / 2 }
  }

  /// Quantizes the blocks `blocks` of x (count elements in all) into packed nibbles and per-block absmax.
  /// Block ranges of one tensor can run on different threads: with an even block size their bytes are disjoint.
  /// - Parameters: x (count); packed ((count+1)/2 bytes, high nibble first); absmax (blocks).
  /// - Returns: the index of the first non-finite input in these blocks, or nil (then nothing is meaningful).
  public static func quantize(
    _ x: UnsafePointer<Float>, count: Int, blockSize: Int, blocks: Range<Int>, packed: UnsafeMutablePointer<UInt8>,
    absmax: UnsafeMutablePointer<Float>
  ) -> Int? {
    precondition(blockSize > 0 && blockSize % 2 == 0, "NF4 block size must be even")
    let t = NF4Thresholds()
    for b in blocks {
      let start = b * blockSize
      let end = min(count, start + blockSize)
      var maximum: Float = 0
      for i in start..<end {
        let v = x[i]
        guard v.isFinite else { return i }
        maximum = max(maximum, abs(v))
      }
      absmax[b] = maximum
      let inverse = 1 / maximum  // +inf for an all-zero block: 0·inf = NaN → nibble 0, as bitsandbytes
      var i = start
      while i + 1 < end {
        packed[i / 2] = t.nibble(x[i] * inverse) << 4 | t.nibble(x[i + 1] * inverse)
        i += 2
      }
      // Odd tail (last element of an odd-length tensor): its partner is a padding 0.0 of the same block.
      if i < end { packed[i / 2] = t.nibble(x[i] * inverse) << 4 | t.nibble(0 * inverse) }
    }
    return nil
  }

  /// Double quantization of the block scales: offset = mean(absmax), then the centred scales in groups of
  /// `nestedBlockSize` to 8-bit codes of the signed dynamic map, each group with its own fp32 absmax.
  /// - Parameters: absmax (blocks); q (blocks); nestedAbsmax (ceil(blocks / nestedBlockSize)).
  /// - Returns: the offset.
  public static func doubleQuantize(
    absmax: UnsafePointer<Float>, blocks: Int, nestedBlockSize: Int, q: UnsafeMutablePointer<UInt8>,
    nestedAbsmax: UnsafeMutablePointer<Float>
  ) -> Float {
    var sum = 0.0
    for b in 0..<blocks { sum += Double(absmax[b]) }
    let offset = blocks > 0 ? Float(sum / Double(blocks)) : 0
    let code = NF4Tables.dynamicMapSigned
    code.withUnsafeBufferPointer { code8 in
      var g = 0
      while g * nestedBlockSize < blocks {
        let start = g * nestedBlockSize
        let end = min(blocks, start + nestedBlockSize)
        var maximum: Float = 0
        for b in start..<end { maximum = max(maximum, abs(absmax[b] - offset)) }
        nestedAbsmax[g] = maximum
        let inverse = 1 / maximum
        for b in start..<end { q[b] = quantize8(((absmax[b] - offset) * inverse), code8) }
        g += 1
      }
    }
    return offset
  }

  /// The block scale double quantization reconstructs: code8[q] · nestedAbsmax + offset (two fp32 roundings).
  @inline(__always)
  public static func scale(q: UInt8, nestedAbsmax: Float, offset: Float, code8: UnsafePointer<Float>) -> Float {
    let product = code8[Int(q)] * nestedAbsmax
    return product + offset
  }

  /// bitsandbytes' dQuantize: binary search over the ascending 256-entry map, then the nearer of the two
  /// neighbours by the fp32 midpoint (exact ties go to the final, even, pivot). NaN → 0.
  @inline(__always)
  static func quantize8(_ s: Float, _ code: UnsafeBufferPointer<Float>) -> UInt8 {
    var pivot = 127
    var upperPivot = 255
    var lowerPivot = 0
    var lower: Float = -1
    var upper: Float = 1
    var value = code[127]
    var step = 64
    while step > 0 {
      if s > value {
        lowerPivot = pivot
        lower = value
        pivot += step
      } else {
        upperPivot = pivot
        upper = value
        pivot -= step
      }
      value = code[pivot]
      step /= 2
    }
    if upperPivot == 255 { upper = code[255] }
    if lowerPivot == 0 { lower = code[0] }
    if s > value {
      let middle = (upper + value) * 0.5
      return UInt8(s > middle ? upperPivot : pivot)
    } else {
      let middle = (lower + value) * 0.5
      return UInt8(s < middle ? lowerPivot : pivot)
    }
  }
}

/// The 15 thresholds in a struct of scalars, so the four-comparison search compiles to registers.
struct NF4Thresholds {
  let t: (Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float, Float)

  init() {
    let v = NF4Tables.thresholds
    t = (v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14])
  }

  @inline(__always)
  func at(_ k: Int) -> Float {
    withUnsafeBytes(of: t) { $0.load(fromByteOffset: k * 4, as: Float.self) }
  }

  /// How many thresholds s exceeds (strictly): 4 comparisons down the sorted list. NaN exceeds none.
  @inline(__always)
  func nibble(_ s: Float) -> UInt8 {
    var n = s > at(7) ? 8 : 0
    if s > at(n + 3) { n += 4 }
    if s > at(n + 1) { n += 2 }
    if s > at(n) { n += 1 }
    return UInt8(n)
  }
}
