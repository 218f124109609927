/// Decodes `count` consecutive elements of `type` starting at `source` into `destination`.
///
/// - `source`: `type.byteCount(elements: count)` bytes of little-endian ggml blocks, any alignment
///   (GGUF aligns tensor starts, but rows of odd-sized blocks are not aligned).
/// - `destination`: room for `count` floats, Float-aligned; must not overlap `source`.
/// Precondition (programmer error only, callers check `isDecodable` and `byteCount` when reading a
/// file): `type.isDecodable` and `count` is a non-negative multiple of `type.blockSize`.
/// Results are bit-identical to ggml's dequantize_row_* (and gguf-py's numpy port of them).
/// ref: ggml/src/ggml-quants.c dequantize_row_*; docs/gguf.md (ggml-org/ggml).
public func ggmlDecode(
  _ type: GGMLType, from source: UnsafeRawPointer, to destination: UnsafeMutablePointer<Float>,
  count: Int
) {
  precondition(type.isDecodable, "ggmlDecode: \(type.name) has no fp32 decoder")
  precondition(
    count >= 0 && count % type.blockSize == 0,
    "ggmlDecode: \(count) is not a multiple of the \(type.name) block size \(type.blockSize)")
  let blocks = count / type.blockSize
  switch type {
  case .f32: decodeFloatRow(source, destination, count: count)
  case .f16: decodeHalfRow(source, destination, count: count)
  case .bf16: decodeBFloat16Row(source, destination, count: count)
  case .q4_0: decodeQ4_0(source, destination, blocks: blocks)
  case .q4_1: decodeQ4_1(source, destination, blocks: blocks)
  case .q5_0: decodeQ5_0(source, destination, blocks: blocks)
  case .q5_1: decodeQ5_1(source, destination, blocks: blocks)
  case .q8_0: decodeQ8_0(source, destination, blocks: blocks)
  case .q2_K: decodeQ2_K(source, destination, blocks: blocks)
  case .q3_K: decodeQ3_K(source, destination, blocks: blocks)
  case .q4_K: decodeQ4_K(source, destination, blocks: blocks)
  case .q5_K: decodeQ5_K(source, destination, blocks: blocks)
  case .q6_K: decodeQ6_K(source, destination, blocks: blocks)
  default: preconditionFailure("unreachable: isDecodable checked above")
  }
}
