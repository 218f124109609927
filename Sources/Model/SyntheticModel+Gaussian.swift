import Formats
import Glibc
import Memory
import Quantization
import Tensor

/// Gaussian values generated and NF4-quantized chunk by chunk on every worker, the codes streamed to the file a round
/// of chunks at a time, then the block scales double-quantized and written. Owns the workers' fp32 scratch and the
/// round's codes; besides them only one tensor's block scales (count / blockSize floats) are ever held.
final class ChunkedGaussianQuantizer {
  let options: SyntheticModel.Options
  let workers: Int
  /// Chunks per round: each worker quantizes this many / workers, then the round's codes are written in order.
  let roundChunks: Int
  private let scratch: AnonymousBuffer<Float>  // (workers, chunkElements)
  private let roundCodes: AnonymousBuffer<UInt8>  // (roundChunks, chunkElements / 2)

  init(options: SyntheticModel.Options, ledger: MemoryLedger) throws {
    self.options = options
    self.workers = Threading.workers
    self.roundChunks = 8 * workers
    scratch = try AnonymousBuffer(
      count: workers * SyntheticModel.chunkElements, label: "synthetic-chunks", ledger: ledger)
    roundCodes = try AnonymousBuffer(
      count: roundChunks * SyntheticModel.chunkElements / 2, label: "synthetic-chunks", ledger: ledger)
  }

  /// Generates, quantizes and writes the parts of `tensor` in the order `NF4Converter.entries` plans them (codes,
  /// 8-bit scales, NF4 table, group scales, 8-bit table, quant state). Returns the bytes of all parts.
  func write(
    _ tensor: SyntheticModel.Tensor, to writer: SafetensorsWriter, quantization: NF4Converter.Options,
    ledger: MemoryLedger
  ) throws -> Int {
    let layout = NF4Quantizer.Layout(
      count: tensor.count, blockSize: quantization.blockSize, nestedBlockSize: quantization.nestedBlockSize)
    // Double quantization needs every block's absmax first (6 MiB for a 49152 × 2048 matrix); the codes do not wait.
    let absmax = try AnonymousBuffer<Float>(count: layout.blocks, label: "synthetic-scales", ledger: ledger)
    let chunkBlocks = SyntheticModel.chunkElements / layout.blockSize
    let chunkBytes = chunkBlocks * layout.blockSize / 2
    let chunks = (layout.blocks + chunkBlocks - 1) / chunkBlocks
    var first = 0
    while first < chunks {
      let last = min(chunks, first + roundChunks)
      quantize(tensor, layout: layout, chunks: first..<last, packed: roundCodes.pointer, absmax: absmax.pointer)
      let bytes = min(layout.packedBytes, last * chunkBytes) - first * chunkBytes
      try writer.writePart(UnsafeRawBufferPointer(start: roundCodes.pointer, count: bytes))
      first = last
    }
    _ = try NF4Converter.writeNestedScales(
      absmax: absmax.pointer, layout: layout, shape: tensor.shape, options: quantization, writer: writer,
      label: "synthetic-scales", ledger: ledger)
    return NF4Converter.entries(name: tensor.name, shape: tensor.shape, storage: "NF4", options: quantization)
      .reduce(0) { $0 + $1.byteCount }
  }

  /// Quantizes `chunks` of the tensor on all workers: chunk k (`chunkElements / blockSize` whole blocks) comes from its
  /// own random stream, so the bytes do not depend on which worker made them or in which round.
  /// - Parameters: packed (the round's codes: chunks.count · chunkElements / 2 bytes from chunk chunks.lowerBound);
  ///   absmax (layout.blocks, the whole tensor's).
  func quantize(
    _ tensor: SyntheticModel.Tensor, layout: NF4Quantizer.Layout, chunks: Range<Int>,
    packed: UnsafeMutablePointer<UInt8>, absmax: UnsafeMutablePointer<Float>
  ) {
    let blockSize = layout.blockSize
    let count = layout.count
    let chunkBlocks = SyntheticModel.chunkElements / blockSize
    let stream = SyntheticModel.streamSeed(options.seed, name: tensor.name)
    let std = options.standardDeviation
    let workers = workers
    let x = SendablePointer(scratch.pointer)
    let codes = SendablePointer(packed)
    let scales = SendablePointer(absmax)
    let firstChunk = chunks.lowerBound
    parallelParts(workers) { part in
      let values = x.pointer + part * SyntheticModel.chunkElements
      for index in partition(chunks.count, parts: workers, part: part) {
        let chunk = firstChunk + index
        let firstBlock = chunk * chunkBlocks
        let start = firstBlock * blockSize
        let n = min(chunkBlocks * blockSize, count - start)
        var random = SeededGenerator(seed: SyntheticModel.mix(stream, UInt64(chunk)))
        SyntheticModel.fillGaussian(values, count: n, standardDeviation: std, random: &random)
        // The chunk starts on a block boundary and the block size is even, so its codes start on a whole byte.
        let bad = NF4Quantizer.quantize(
          values, count: n, blockSize: blockSize, blocks: 0..<((n + blockSize - 1) / blockSize),
          packed: codes.pointer + index * (chunkBlocks * blockSize / 2), absmax: scales.pointer + firstBlock)
        precondition(bad == nil, "Box-Muller values are finite")
      }
    }
  }
}

extension SyntheticModel {
  /// Fills x with Gaussian values (mean 0, `standardDeviation`) by the Box-Muller transform: one 64-bit draw gives
  /// two 24-bit uniforms and two values, so |value| ≤ √(2 ln 2²⁴) σ ≈ 5.8σ.
  /// ref: Box & Muller 1958, "A Note on the Generation of Random Normal Deviates".
  /// - Parameters: x (count).
  static func fillGaussian(
    _ x: UnsafeMutablePointer<Float>, count: Int, standardDeviation: Float, random: inout SeededGenerator
  ) {
    let twoPi = 2 * Float.pi
    var i = 0
    while i < count {
      let bits = random.next()
      let u1 = Float((bits >> 40) + 1) * 0x1p-24  // (0, 1]: the logarithm stays finite
      let u2 = Float((bits >> 8) & 0xFF_FFFF) * 0x1p-24  // [0, 1)
      let radius = standardDeviation * (-2 * logf(u1)).squareRoot()
      let angle = twoPi * u2
      x[i] = radius * cosf(angle)
      if i + 1 < count { x[i + 1] = radius * sinf(angle) }
      i += 2
    }
  }

  /// The seed of one tensor's values: the run's seed and the tensor's name (FNV-1a), so a tensor's values do not
  /// depend on which other tensors the model has (layer 0 of a 2-layer and of a 22-layer model agree).
  static func streamSeed(_ seed: UInt64, name: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return mix(seed, hash)
  }

  /// SplitMix64's finalizer over a ⊕ b·φ: well-spread seeds from related inputs (chunk 0, 1, 2 ...).
  /// ref: Steele, Lea & Flood 2014, "Fast Splittable Pseudorandom Number Generators".
  static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var z = a ^ (b &* 0x9E37_79B9_7F4A_7C15)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
