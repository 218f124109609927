import Foundation
import Memory
import Model
import Quantization
import Tensor

/// `edgetune bench --kernels`: the decode hot path on its own. Decode throughput per core (GB/s of packed input and
/// G weights/s) for NF4 and the GGML types of the demo model, and a layer-sized product through decoded tiles against
/// plain sgemm on an fp32 copy, so the tile size can be judged by how close the two are.
enum KernelBench {
  /// One decoder's throughput (an element of `bench --kernels --json`'s "decode").
  struct Figure: Codable {
    var name: String
    var packedGBPerSecond: Double
    var weightsPerSecond: Double

    enum CodingKeys: String, CodingKey {
      case name = "type"
      case packedGBPerSecond = "packed_gb_per_second"
      case weightsPerSecond = "weights_per_second"
    }
  }

  /// Runs each decoder over a 576×1536 matrix (an MLP projection of the demo model) for about 0.3 s on one thread.
  static func decodeFigures() -> (decode: [Figure], tiledGFLOPs: Double, plainGFLOPs: Double) {
    let rows = 1536
    let cols = 576
    let count = rows * cols
    var random = SeededGenerator(seed: 42)
    let source = (0..<count).map { _ in Float(random.nextUnit() * 2 - 1) * 0.05 }
    let out = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { out.deallocate() }
    var figures: [Figure] = []
    var product = (tiled: 0.0, plain: 0.0)

    // NF4 with double quantization, quantized here from the random source.
    let layout = NF4Quantizer.Layout(count: count)
    var packed = [UInt8](repeating: 0, count: layout.packedBytes)
    var absmax = [Float](repeating: 0, count: layout.blocks)
    _ = NF4Quantizer.quantize(
      source, count: count, blockSize: 64, blocks: 0..<layout.blocks, packed: &packed, absmax: &absmax)
    var q = [UInt8](repeating: 0, count: layout.blocks)
    var nested = [Float](repeating: 0, count: layout.nestedBlocks)
    let offset = NF4Quantizer.doubleQuantize(
      absmax: absmax, blocks: layout.blocks, nestedBlockSize: 256, q: &q, nestedAbsmax: &nested)
    packed.withUnsafeBufferPointer { p in
      q.withUnsafeBufferPointer { qp in
        nested.withUnsafeBytes { groups in
          let decoder = NF4Decoder(
            count: count, blockSize: 64, packed: p.baseAddress!,
            scales: .nested(q: qp.baseAddress!, groupAbsmax: groups.baseAddress!, groupSize: 256, offset: offset),
            code4: NF4Tables.code, code8: NF4Tables.dynamicMapSigned)
          let bytes = layout.packedBytes + layout.blocks + layout.nestedBlocks * 4
          let fast = timed { decoder.decode(0..<count, into: out) }
          figures.append(
            Figure(
              name: "NF4+DQ (fast)", packedGBPerSecond: Double(bytes) / fast / 1e9,
              weightsPerSecond: Double(count) / fast))
          let naive = timed { decoder.decodeNaive(0..<count, into: out) }
          figures.append(
            Figure(
              name: "NF4+DQ (naive twin)", packedGBPerSecond: Double(bytes) / naive / 1e9,
              weightsPerSecond: Double(count) / naive))
          product = productFigures(
            NF4Matrix(name: "bench", rows: rows, cols: cols, decoder: decoder, storageBytes: bytes), source: source)
        }
      }
    }
    // GGML block types of the demo model, from random blocks with sane scales.
    for type in [GGMLType.q4_1, .q8_0, .q4_K, .q6_K, .f16] {
      let bytes = type.byteCount(elements: count)!
      var raw = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &random) }
      // Put a small positive fp16 scale (0x2000 ≈ 0.0078) at every 2-byte boundary so no block decodes to inf/NaN.
      if type != .f16 {
        for i in stride(from: 0, to: bytes - 1, by: 2) where raw[i + 1] & 0x7C == 0x7C { raw[i + 1] = 0x20 }
      }
      raw.withUnsafeBytes { r in
        let seconds = timed { ggmlDecode(type, from: r.baseAddress!, to: out, count: count) }
        figures.append(
          Figure(
            name: type.name, packedGBPerSecond: Double(bytes) / seconds / 1e9, weightsPerSecond: Double(count) / seconds
          ))
      }
    }
    return (figures, product.tiled, product.plain)
  }

  /// GFLOP/s of a 256-token product with the matrix: through decoded tiles (the model's path) and plain sgemm on an
  /// fp32 copy, both on one thread.
  static func productFigures(_ matrix: NF4Matrix, source: [Float]) -> (tiled: Double, plain: Double) {
    let tokens = 256
    let flops = 2.0 * Double(tokens * matrix.rows * matrix.cols)
    let input = (0..<(tokens * matrix.cols)).map { Float($0 % 13) * 0.01 }
    let output = UnsafeMutablePointer<Float>.allocate(capacity: tokens * matrix.rows)
    defer { output.deallocate() }
    guard let tiles = try? DecodeTiles(workers: 1, ledger: MemoryLedger()) else { return (0, 0) }
    let tiled = timed {
      frozenLinearForward(
        input: input, tokens: tokens, weight: matrix, output: output, ldOutput: matrix.rows, tiles: tiles)
    }
    let plain = timed {
      BLAS.gemmABt(
        m: tokens, n: matrix.rows, k: matrix.cols, a: input, lda: matrix.cols, b: source, ldb: matrix.cols, c: output,
        ldc: matrix.rows)
    }
    return (flops / tiled / 1e9, flops / plain / 1e9)
  }

  /// Seconds per call of `body`, the best of repeated runs over about 0.3 s.
  static func timed(_ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    let start = ContinuousClock.now
    var runs = 0
    while (ContinuousClock.now - start).seconds < 0.3 || runs < 3 {
      let t = ContinuousClock.now
      body()
      best = min(best, (ContinuousClock.now - t).seconds)
      runs += 1
    }
    return best
  }
}
