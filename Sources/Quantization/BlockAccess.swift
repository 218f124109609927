/// Little helpers the block decoders share: unaligned little-endian field loads and 16-lane
/// byte-to-float conversion and stores.
///
/// Blocks have odd byte sizes (18, 22, 110, 210 ...), so after the first block nothing is aligned;
/// every multi-byte load goes through `loadUnaligned`. All are `@inline(__always)` so the decoders'
/// inner loops compile to straight vector code with no calls.

/// The fp16 field at `offset` bytes into `p`, widened to Float.
@inline(__always)
func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
  floatFromHalfBits(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

/// The little-endian UInt32 at `offset` bytes into `p`.
@inline(__always)
func loadUInt32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
  UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}

/// 16 bytes at `offset` into `p` as one vector.
@inline(__always)
func loadBytes16(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<UInt8> {
  p.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
}

/// Unsigned bytes (each < 256) to floats, lane by lane; exact.
@inline(__always)
func floats(_ v: SIMD16<UInt8>) -> SIMD16<Float> {
  SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: v))
}

/// Bytes minus a zero point (`v - offset` as signed ints) to floats; exact.
@inline(__always)
func floats(_ v: SIMD16<UInt8>, minus offset: Int32) -> SIMD16<Float> {
  SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: v) &- offset)
}

/// Writes 16 floats to `y[index ..< index + 16]`; `y` need only be Float-aligned.
@inline(__always)
func store16(_ v: SIMD16<Float>, _ y: UnsafeMutablePointer<Float>, _ index: Int) {
  UnsafeMutableRawPointer(y + index).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Lane i holds `i` (0...15), for per-lane bit extraction from packed high-bit words.
@inline(__always)
var laneIndex16: SIMD16<UInt32> {
  SIMD16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
}
