import Foundation
import Quantization
import Testing

/// Blockwise 8-bit optimizer states against goldens from the independent numpy reference of bitsandbytes' algorithm
/// (Tools/reference/optimizer_state_8bit_reference.py): codes and absmax identical byte for byte and the unsigned map
/// bit for bit; then the fast search against its naive twin, round-trip bounds, partial and all-zero blocks.
@Suite struct OptimizerStateQuantizerTests {
  typealias Q = OptimizerStateQuantizer

  struct Case: Decodable, Sendable, CustomTestStringConvertible {
    var name: String
    var map: String
    var n: Int
    var blocksize: Int
    var files: [String: String]
    var testDescription: String { name }
  }
  struct Manifest: Decodable { var cases: [Case] }

  static let directory = Fixture.directory.appendingPathComponent("optimizer_state_8bit")
  static let cases: [Case] = {
    guard let data = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")),
      let manifest = try? JSONDecoder().decode(Manifest.self, from: data)
    else { return [] }
    return manifest.cases
  }()

  static func bytes(_ file: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: directory.appendingPathComponent(file)))
  }
  static func floats(_ file: String) throws -> [Float] {
    let raw = try bytes(file)
    return stride(from: 0, to: raw.count, by: 4).map { i in
      Float(bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
    }
  }
  static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

  /// Half the widest gap between adjacent map values, the worst rounding error relative to absmax: the top decade's
  /// spacing 0.9/64 (signed) or 0.9/128 (unsigned), halved; for the signed map it is also 1 - |map[0]|, the error of
  /// a block whose extreme value is negative. ref: the reference's SPEC section 5.
  static func halfGap(_ map: Q.Map) -> Float { map == .signed ? 0.9 / 128 : 0.9 / 256 }
  /// fp32 rounding of the quotient and of the decode product, relative to absmax (each ≤ 2^-24 of it).
  static let roundingSlack: Float = 1e-6

  struct Encoded {
    var codes: [UInt8]
    var absmax: [Float]
    var decoded: [Float]
  }

  /// Encodes x with the fast path and with the naive twin (they must agree exactly), then decodes.
  static func roundTrip(_ x: [Float], _ map: Q.Map, blockSize: Int = Q.defaultBlockSize) -> Encoded {
    let blocks = Q.blockCount(count: x.count, blockSize: blockSize)
    var e = Encoded(
      codes: [UInt8](repeating: 0xEE, count: x.count), absmax: [Float](repeating: .nan, count: blocks),
      decoded: [Float](repeating: .nan, count: x.count))
    var naiveCodes = e.codes
    var naiveAbsmax = e.absmax
    x.withUnsafeBufferPointer { v in
      e.codes.withUnsafeMutableBufferPointer { c in
        e.absmax.withUnsafeMutableBufferPointer { a in Q.encode(v, map: map, blockSize: blockSize, into: c, absmax: a) }
      }
      naiveCodes.withUnsafeMutableBufferPointer { c in
        naiveAbsmax.withUnsafeMutableBufferPointer { a in
          Q.encodeNaive(v, map: map, blockSize: blockSize, into: c, absmax: a)
        }
      }
    }
    #expect(e.codes == naiveCodes, "fast search == naive twin")
    #expect(bits(e.absmax) == bits(naiveAbsmax))
    e.codes.withUnsafeBufferPointer { c in
      e.absmax.withUnsafeBufferPointer { a in
        e.decoded.withUnsafeMutableBufferPointer { y in
          Q.decode(codes: c, absmax: a, map: map, blockSize: blockSize, into: y)
        }
      }
    }
    return e
  }

  @Test func manifestIsPresent() { #expect(Self.cases.count == 4) }

  @Test func mapsMatchTheReference() throws {
    #expect(Self.bits(Q.dynamicMapUnsigned) == Self.bits(try Self.floats("dynamic_map_unsigned.f32")))
    #expect(Self.bits(NF4Tables.dynamicMapSigned) == Self.bits(try Self.floats("dynamic_map_signed.f32")))
    #expect(Self.bits(Q.Map.signed.values) == Self.bits(NF4Tables.dynamicMapSigned))
    #expect(Self.bits(Q.Map.unsigned.values) == Self.bits(Q.dynamicMapUnsigned))
  }

  @Test(arguments: Q.Map.allCases)
  func mapShape(_ map: Q.Map) {
    let v = map.values
    #expect(v.count == 256)
    #expect(zip(v, v.dropFirst()).allSatisfy { $0 < $1 }, "strictly ascending")
    #expect(v[Int(map.zeroCode)] == 0 && v[255] == 1)
    #expect(map == .signed ? v[0] == -v[254] : v.allSatisfy { $0 >= 0 })
    let widest = zip(v, v.dropFirst()).map { Double($1) - Double($0) }.max()!
    #expect(abs(widest / 2 - Double(Self.halfGap(map))) < 1e-7, "the error bound is half the widest gap")
  }

  @Test(arguments: cases)
  func goldenCodesAndAbsmaxAreIdentical(_ c: Case) throws {
    let map: Q.Map = c.map == "signed" ? .signed : .unsigned
    let x = try Self.floats(c.files["input"]!)
    #expect(x.count == c.n)
    let e = Self.roundTrip(x, map, blockSize: c.blocksize)
    #expect(e.codes == (try Self.bytes(c.files["codes"]!)), "codes")
    #expect(Self.bits(e.absmax) == Self.bits(try Self.floats(c.files["absmax"]!)), "absmax")
    // Decoding is map[code] · absmax with the reference's own copy of the map.
    let table = try Self.floats("dynamic_map_\(c.map).f32")
    let expected = x.indices.map { i in table[Int(e.codes[i])] * e.absmax[i / c.blocksize] }
    #expect(Self.bits(e.decoded) == Self.bits(expected), "decoded")
    #expect(!e.decoded.contains { $0.isNaN })
  }

  /// Every midpoint exactly and ±1 ulp (absmax 1, so s = x), and values over twelve decades: fast == naive.
  @Test(arguments: Q.Map.allCases, [1, 7, 64, 256, 300])
  func fastSearchMatchesTheNaiveTwin(_ map: Q.Map, blockSize: Int) {
    let v = map.values
    var x: [Float] = [1]
    for k in 0..<255 {
      let m = (v[k] + v[k + 1]) * 0.5
      x += [m, m.nextUp, m.nextDown, v[k]]
    }
    var rng = SplitMix64(seed: 0x8B17)
    for _ in 0..<3000 {
      let magnitude = Float(pow(10, Double.random(in: -12...0, using: &rng)))
      let sign: Float = map == .signed && Bool.random(using: &rng) ? -1 : 1
      x.append(sign * magnitude * Float.random(in: 0.5...1, using: &rng))
    }
    x += [0, -0, 1e-45, -1e-45, .leastNormalMagnitude]
    if map == .unsigned { x = x.map { abs($0) } }
    _ = Self.roundTrip(x, map, blockSize: blockSize)  // asserts fast == naive
  }

  @Test(arguments: Q.Map.allCases)
  func roundTripErrorIsWithinHalfTheWidestGap(_ map: Q.Map) {
    var rng = SplitMix64(seed: 42)
    let x: [Float] = (0..<(5 * 256 + 77)).map { i in
      let g = Float.random(in: -1...1, using: &rng) * Float(pow(10, Double(-(i / 256))))  // a decade per block
      return map == .signed ? g : g * g
    }
    let e = Self.roundTrip(x, map)
    for i in x.indices {
      let a = e.absmax[i / 256]
      let bound = (Self.halfGap(map) + Self.roundingSlack) * a
      #expect(abs(e.decoded[i] - x[i]) <= bound, "[\(i)] \(x[i]) -> \(e.decoded[i]), absmax \(a)")
      if map == .signed && x[i] < 0 { #expect(e.decoded[i] < 0, "m keeps its sign: [\(i)] \(x[i])") }
    }
  }

  @Test(arguments: Q.Map.allCases)
  func partialLastBlockHasItsOwnAbsmax(_ map: Q.Map) {
    let n = 2 * 256 + 37
    var x = (0..<n).map { Float($0 % 97) * 1e-3 }
    x[300] = 5  // the largest value overall, in block 1: must not reach block 2
    let e = Self.roundTrip(x, map)
    #expect(Q.blockCount(count: n) == 3)
    #expect(Q.encodedByteCount(count: n) == n + 3 * 4)
    #expect(Q.encodedByteCount(count: 256) == 256 + 4)
    #expect(Q.encodedByteCount(count: 0) == 0)
    #expect(e.absmax == [x[0..<256].max()!, 5, x[512...].max()!])
    for i in x.indices {
      #expect(abs(e.decoded[i] - x[i]) <= (Self.halfGap(map) + Self.roundingSlack) * e.absmax[i / 256])
    }

    // Larger output buffers: only the first n codes and the first 3 absmax are written.
    var codes = [UInt8](repeating: 0xEE, count: n + 5)
    var absmax = [Float](repeating: -1, count: 4)
    x.withUnsafeBufferPointer { v in
      codes.withUnsafeMutableBufferPointer { c in
        absmax.withUnsafeMutableBufferPointer { a in Q.encode(v, map: map, into: c, absmax: a) }
      }
    }
    #expect(Array(codes[..<n]) == e.codes && codes[n...].allSatisfy { $0 == 0xEE })
    #expect(Array(absmax[..<3]) == e.absmax && absmax[3] == -1)
  }

  @Test(arguments: Q.Map.allCases)
  func allZeroBlockDecodesToZeroWithoutNaN(_ map: Q.Map) {
    var x = [Float](repeating: 0, count: 3 * 256 + 10)
    for i in 0..<256 { x[i] = Float(i + 1) * 1e-4 }
    if map == .signed { for i in stride(from: 257, to: 512, by: 3) { x[i] = -0.0 } }
    // block 1 and the partial block 3 are all zero
    let e = Self.roundTrip(x, map)
    #expect(e.absmax[1] == 0 && e.absmax[3] == 0)
    for i in 256..<512 { #expect(e.codes[i] == map.zeroCode) }
    for i in (3 * 256)..<x.count { #expect(e.codes[i] == map.zeroCode) }
    #expect(e.decoded[256...].allSatisfy { $0.bitPattern == 0 }, "+0.0, never NaN")
    #expect(!e.decoded.contains { $0.isNaN })
  }

  /// bitsandbytes' state1 sign step: a negative moment that rounds to +0.0 takes the smallest negative code instead.
  @Test func signedMapKeepsTheSignOfTinyMoments() {
    let x: [Float] = [1, -1e-9, 1e-9, -0.0, 0, -1, -0.75, 0.75]
    let e = Self.roundTrip(x, .signed)
    #expect(Array(e.codes[0..<5]) == [255, 126, 127, 126, 127])
    #expect(e.codes[5] == 0, "-1 -> -0.99296875, the lowest value")
    #expect(e.decoded[1] < 0 && e.decoded[3] < 0 && e.decoded[2] == 0)
  }

  @Test func unsignedMapEncodesNegativesAsZero() {
    let e = Self.roundTrip([-0.5, 1, -1e-9, 0.25], .unsigned)
    #expect(e.codes[0] == 0 && e.codes[2] == 0 && e.codes[1] == 255)
    #expect(e.decoded[0] == 0)
  }

  @Test func emptyInputWritesNothing() {
    let e = Self.roundTrip([], .signed)
    #expect(e.codes.isEmpty && e.absmax.isEmpty && e.decoded.isEmpty)
  }
}

/// A seeded generator for reproducible test inputs (splitmix64).
private struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
