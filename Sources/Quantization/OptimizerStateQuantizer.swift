/// bitsandbytes' blockwise 8-bit optimizer states (Adam8bit, AdamW8bit): a state tensor is cut into blocks of
/// `blockSize` consecutive elements (bitsandbytes uses 256), and each block is stored as its fp32 absmax plus one
/// byte per element, the code of the map value nearest to x / absmax. The first moment m uses the signed dynamic
/// map; the second moment v is never negative, so it uses the unsigned map, which spends all 256 codes on
/// magnitudes. A state of n elements takes n + 4·ceil(n / blockSize) bytes instead of 4n.
///
/// Rounding, as bitsandbytes' optimizer kernel does it (quantize_2D, whose results equal dQuantize's):
/// - s = x / absmax in fp32. The kernel uses CUDA's approximate `__fdividef`; a CPU computes the exact quotient,
///   so a code can differ from a GPU's where the approximation crosses a midpoint.
/// - The code is the number of fp32 midpoints (map[k] + map[k+1]) · 0.5 below s, and an s exactly on a midpoint
///   takes the even of its two codes: the kernel's binary search ends on an even pivot and keeps it on equality.
/// - Signed map only: a negative x (or -0.0) that rounds to +0.0 (code 127) takes code 126, the smallest negative
///   value, so m keeps its sign (the kernel's "make sure state1 term has still the same sign" step).
/// - An all-zero block (absmax 0) stores the code of 0.0 and decodes to +0.0. Here the kernel divides 0 by 0 and
///   lets NaN pick code 0 (then 255 for m through the sign step); every variant decodes to zero, and no NaN is made.
/// bitsandbytes' other paths differ only in ties and rounding (the old C++ CPU quantize_block and the torch and
/// Triton fallbacks send ties to the lower code; CUDA quantize_blockwise multiplies by 1/absmax).
/// ref: Tools/reference/optimizer_state_8bit_reference.py (SPEC); bitsandbytes csrc/cuda/optimizers.cu
/// quantize_2D and kOptimizerStatic8bit2StateBlockwise, functional.py create_dynamic_map, optim/optimizer.py
/// Optimizer2State.init_state; Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization".
public enum OptimizerStateQuantizer {
  /// The dynamic map a state is coded with.
  public enum Map: Sendable, CaseIterable {
    /// create_dynamic_map(signed=True), for the first moment m (bitsandbytes' state1).
    case signed
    /// create_dynamic_map(signed=False), for the second moment v (state2). Negative values encode as 0.0.
    case unsigned

    /// The 256 map values, ascending; the index is the code.
    public var values: [Float] {
      switch self {
      case .signed: NF4Tables.dynamicMapSigned
      case .unsigned: OptimizerStateQuantizer.dynamicMapUnsigned
      }
    }

    /// The code whose value is 0.0: what an all-zero block stores.
    public var zeroCode: UInt8 { self == .signed ? 127 : 0 }

    var scanStarts: [UInt8] {
      switch self {
      case .signed: OptimizerStateQuantizer.signedScanStarts
      case .unsigned: OptimizerStateQuantizer.unsignedScanStarts
      }
    }

    var midpoints: [Float] {
      switch self {
      case .signed: OptimizerStateQuantizer.signedMidpoints
      case .unsigned: OptimizerStateQuantizer.unsignedMidpoints
      }
    }
  }

  /// The block size of bitsandbytes' blockwise 8-bit optimizers.
  public static let defaultBlockSize = 256

  /// Number of blocks (and of absmax values) for `count` elements; the last block may be partial.
  public static func blockCount(count: Int, blockSize: Int = defaultBlockSize) -> Int {
    precondition(count >= 0 && blockSize > 0, "invalid count or block size")
    return (count + blockSize - 1) / blockSize
  }

  /// Bytes needed to encode `count` elements: `count` codes plus one fp32 absmax per block.
  public static func encodedByteCount(count: Int, blockSize: Int = defaultBlockSize) -> Int {
    count + blockCount(count: count, blockSize: blockSize) * MemoryLayout<Float>.size
  }

  /// Encodes `values` block by block. Blocks are independent, so a caller can encode a range of blocks elsewhere by
  /// passing buffers rebased at a block boundary.
  /// - Parameters: values (n, finite: a NaN is skipped by absmax and gets an arbitrary code); codes (≥ n, the first
  ///   n are written); absmax (≥ ceil(n / blockSize), the first ceil(n / blockSize) are written).
  public static func encode(
    _ values: UnsafeBufferPointer<Float>, map: Map, blockSize: Int = defaultBlockSize,
    into codes: UnsafeMutableBufferPointer<UInt8>, absmax: UnsafeMutableBufferPointer<Float>
  ) {
    let count = values.count
    let blocks = blockCount(count: count, blockSize: blockSize)
    precondition(codes.count >= count && absmax.count >= blocks, "output buffers too small")
    guard count > 0, let x = values.baseAddress, let c = codes.baseAddress else { return }
    let signed = map == .signed
    let zero = map.zeroCode
    let starts = map.scanStarts
    map.midpoints.withUnsafeBufferPointer { table in
      starts.withUnsafeBufferPointer { startTable in
        let mid = table.baseAddress!
        let scan = startTable.baseAddress!
        for b in 0..<blocks {
          let start = b * blockSize
          let end = min(count, start + blockSize)
          let a = blockAbsmax(x, start..<end)
          absmax[b] = a
          guard a > 0 else {
            (c + start).update(repeating: zero, count: end - start)
            continue
          }
          if signed {
            for i in start..<end {
              let v = x[i]
              var k = nearestCode(v / a, midpoints: mid, scanStarts: scan)
              // Codes 0...126 are negative, 127 is +0.0: if the sign bits disagree, step one code towards x's sign
              // (only a negative x rounding to +0.0 gets here; 0 wraps to 255 for a NaN, as the kernel's uint8 does).
              if (k < 127) != (v.sign == .minus) { k += v > 0 ? 1 : -1 }
              c[i] = UInt8(truncatingIfNeeded: k)
            }
          } else {
            for i in start..<end {
              c[i] = UInt8(truncatingIfNeeded: nearestCode(x[i] / a, midpoints: mid, scanStarts: scan))
            }
          }
        }
      }
    }
  }

  /// Decodes codes to values: y = map[code] · absmax (one fp32 multiply), an all-zero block to +0.0.
  /// - Parameters: codes (≥ n); absmax (≥ ceil(n / blockSize)); values (n, all written).
  public static func decode(
    codes: UnsafeBufferPointer<UInt8>, absmax: UnsafeBufferPointer<Float>, map: Map,
    blockSize: Int = defaultBlockSize, into values: UnsafeMutableBufferPointer<Float>
  ) {
    let count = values.count
    let blocks = blockCount(count: count, blockSize: blockSize)
    precondition(codes.count >= count && absmax.count >= blocks, "input buffers too small")
    guard count > 0, let c = codes.baseAddress, let y = values.baseAddress else { return }
    map.values.withUnsafeBufferPointer { table in
      let code = table.baseAddress!
      for b in 0..<blocks {
        let a = absmax[b]
        for i in (b * blockSize)..<min(count, (b + 1) * blockSize) { y[i] = code[Int(c[i])] * a }
      }
    }
  }

  /// `encode`'s naive twin for tests: each element through a literal port of bitsandbytes' binary search
  /// (`NF4Quantizer.quantize8`, dQuantize; quantize_2D differs only in where its first loads come from and in an
  /// initial `lower` that never decides a code), and the sign step on the signed map's values themselves.
  public static func encodeNaive(
    _ values: UnsafeBufferPointer<Float>, map: Map, blockSize: Int = defaultBlockSize,
    into codes: UnsafeMutableBufferPointer<UInt8>, absmax: UnsafeMutableBufferPointer<Float>
  ) {
    let count = values.count
    let blocks = blockCount(count: count, blockSize: blockSize)
    precondition(codes.count >= count && absmax.count >= blocks, "output buffers too small")
    map.values.withUnsafeBufferPointer { code in
      for b in 0..<blocks {
        let range = (b * blockSize)..<min(count, (b + 1) * blockSize)
        let a = range.reduce(Float(0)) { max($0, abs(values[$1])) }
        absmax[b] = a
        for i in range {
          guard a > 0 else {
            codes[i] = map.zeroCode
            continue
          }
          var k = Int(NF4Quantizer.quantize8(values[i] / a, code))
          if map == .signed && code[k].sign != values[i].sign { k += values[i] > 0 ? 1 : -1 }
          codes[i] = UInt8(truncatingIfNeeded: k)
        }
      }
    }
  }

  /// max |x| over one block; NaN is skipped, as the kernel's fmaxf does.
  @inline(__always)
  private static func blockAbsmax(_ x: UnsafePointer<Float>, _ range: Range<Int>) -> Float {
    var m: Float = 0
    for i in range { m = max(m, abs(x[i])) }
    return m
  }

  /// The code nearest to s: the number of midpoints below s, counted from where `scanStarts` says the midpoints
  /// below s's 1/128-octave bucket end (one or two steps at most), then an exact tie sent to the even code. The
  /// +inf pad stops the scan; NaN compares false everywhere and its buckets start at 0, so NaN → 0.
  /// Measured against the eight dependent halvings this replaced: see `Tools/bench-paging` (8-bit rows).
  @inline(__always)
  static func nearestCode(_ s: Float, midpoints mid: UnsafePointer<Float>, scanStarts: UnsafePointer<UInt8>) -> Int {
    var k = Int(scanStarts[Int(s.bitPattern >> 16)])
    while mid[k] < s { k += 1 }
    // mid[k] is now the first midpoint ≥ s; equal means s sits between codes k and k + 1.
    if k & 1 == 1 && mid[k] == s { k += 1 }
    return k
  }
}
