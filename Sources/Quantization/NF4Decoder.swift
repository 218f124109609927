/// Decodes NF4 tensors to fp32, straight from the stored parts (a mapped file): packed nibbles, block scales (plain
/// fp32, or double-quantized 8-bit codes with per-group fp32 absmax and an offset), and the tensor's own code tables.
///
/// The fast path (`decode`) turns each byte into its two weights with one load from a 256-entry table of code pairs
/// and one SIMD2 multiply; `decodeNaive` is its element-by-element twin for tests.
/// ref: Tools/reference/nf4_reference.py (SPEC sections 3 and 5); bitsandbytes kDequantizeBlockwise.
public struct NF4Decoder: @unchecked Sendable {
  // @unchecked Sendable: read-only pointers into a mapping owned by the model, plus immutable tables.
  public enum Scales {
    /// fp32 absmax per block (may be unaligned in the file).
    case plain(absmax: UnsafeRawPointer)
    /// 8-bit codes per block, fp32 absmax per group of `groupSize` blocks, and the mean offset.
    case nested(q: UnsafePointer<UInt8>, groupAbsmax: UnsafeRawPointer, groupSize: Int, offset: Float)
  }

  public let count: Int
  public let blockSize: Int
  public let packed: UnsafePointer<UInt8>
  public let scales: Scales
  /// 256 pairs (code[b >> 4], code[b & 15]): both weights of byte b before scaling.
  private let pairs: [SIMD2<Float>]
  private let code4: [Float]
  private let code8: [Float]

  /// - Parameters: code4 (16 values), code8 (256 values, nested scales only) as stored with the tensor.
  public init(count: Int, blockSize: Int, packed: UnsafePointer<UInt8>, scales: Scales, code4: [Float], code8: [Float])
  {
    precondition(code4.count == 16 && blockSize > 0 && blockSize % 2 == 0, "invalid NF4 decoder parameters")
    self.count = count
    self.blockSize = blockSize
    self.packed = packed
    self.scales = scales
    self.code4 = code4
    self.code8 = code8
    self.pairs = (0..<256).map { SIMD2(code4[$0 >> 4], code4[$0 & 15]) }
  }

  /// The scale of block b.
  @inline(__always)
  public func scale(block b: Int) -> Float {
    switch scales {
    case .plain(let absmax):
      return absmax.loadUnaligned(fromByteOffset: b * 4, as: Float.self)
    case .nested(let q, let groupAbsmax, let groupSize, let offset):
      let group = groupAbsmax.loadUnaligned(fromByteOffset: (b / groupSize) * 4, as: Float.self)
      let product = code8[Int(q[b])] * group
      return product + offset
    }
  }

  /// Decodes elements `range` into destination (range.count floats).
  public func decode(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
    precondition(range.lowerBound >= 0 && range.upperBound <= count, "element range outside the tensor")
    var i = range.lowerBound
    var out = destination
    pairs.withUnsafeBufferPointer { pairTable in
      let table = pairTable.baseAddress!
      while i < range.upperBound {
        let b = i / blockSize
        let blockEnd = min(range.upperBound, (b + 1) * blockSize)
        let s = scale(block: b)
        // An odd start takes its low nibble alone, then whole bytes, then a lone high nibble at the end.
        if i & 1 == 1 {
          out.pointee = code4[Int(packed[i / 2] & 15)] * s
          out += 1
          i += 1
        }
        let scale2 = SIMD2<Float>(repeating: s)
        let pairsEnd = i + (blockEnd - i) / 2 * 2
        var byte = packed + i / 2
        let raw = UnsafeMutableRawPointer(out)
        var k = 0
        // Eight bytes (16 weights) per step: four pairs assembled into each SIMD8, one multiply per 8 weights.
        let scale8 = SIMD8<Float>(repeating: s)
        while i + 2 * k + 16 <= pairsEnd {
          let word = UnsafeRawPointer(byte).loadUnaligned(as: UInt64.self)
          @inline(__always) func pair(_ shift: UInt64) -> SIMD2<Float> { table[Int((word >> shift) & 0xFF)] }
          let low = SIMD8(
            lowHalf: SIMD4(lowHalf: pair(0), highHalf: pair(8)), highHalf: SIMD4(lowHalf: pair(16), highHalf: pair(24)))
          let high = SIMD8(
            lowHalf: SIMD4(lowHalf: pair(32), highHalf: pair(40)),
            highHalf: SIMD4(lowHalf: pair(48), highHalf: pair(56)))
          raw.storeBytes(of: low * scale8, toByteOffset: k * 8, as: SIMD8<Float>.self)
          raw.storeBytes(of: high * scale8, toByteOffset: k * 8 + 32, as: SIMD8<Float>.self)
          byte += 8
          k += 8
        }
        while i + 2 * k < pairsEnd {
          raw.storeBytes(of: table[Int(byte.pointee)] * scale2, toByteOffset: k * 8, as: SIMD2<Float>.self)
          byte += 1
          k += 1
        }
        out += 2 * k
        i = pairsEnd
        if i < blockEnd {
          out.pointee = code4[Int(packed[i / 2] >> 4)] * s
          out += 1
          i += 1
        }
      }
    }
  }

  /// The same, one element at a time straight from the SPEC: y[i] = code4[nibble(i)] · scale[i / blockSize].
  public func decodeNaive(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
    for (k, i) in range.enumerated() {
      let byte = packed[i / 2]
      let nibble = i % 2 == 0 ? byte >> 4 : byte & 15
      destination[k] = code4[Int(nibble)] * scale(block: i / blockSize)
    }
  }
}
