import Quantization
import Testing

@Suite struct GGMLTypeTests {
  /// Ids, names and block geometry agree with gguf-py's GGMLQuantizationType / GGML_QUANT_SIZES.
  /// One known disagreement: Q8_1 is 36 bytes in ggml (static_assert in ggml-common.h: two fp16 +
  /// 32 int8) while gguf-py 0.19.0 still lists 40 (fp32 d and s, pre-2023). ggml defines the layout.
  @Test func matchesGGUFPyTable() throws {
    let table = try Fixture.typeTable()
    var seen = 0
    for row in table {
      guard let type = GGMLType(rawValue: row.id) else { continue }  // newer types (MXFP4 ...)
      seen += 1
      #expect(type.name == row.name)
      #expect(type.blockSize == row.block, "\(row.name)")
      if type == .q8_1 {
        #expect(type.bytesPerBlock == 36 && row.bytes == 40)
      } else {
        #expect(type.bytesPerBlock == row.bytes, "\(row.name)")
      }
    }
    #expect(seen == GGMLType.allCases.count)
  }

  @Test func unknownIdsAreNil() {
    for id: UInt32 in [4, 5, 31, 32, 33, 36, 1000, .max] { #expect(GGMLType(rawValue: id) == nil) }
  }

  @Test(arguments: GGMLType.allCases)
  func byteCount(type: GGMLType) {
    let k = type.blockSize
    #expect(type.byteCount(elements: 0) == 0)
    #expect(type.byteCount(elements: k) == type.bytesPerBlock)
    #expect(type.byteCount(elements: 4096 * k) == 4096 * type.bytesPerBlock)
    #expect(type.byteCount(elements: -k) == nil)
    if k > 1 {
      #expect(type.byteCount(elements: k + 1) == nil)
      #expect(type.byteCount(elements: k / 2) == nil)
    }
    // A whole number of blocks whose byte count no longer fits in Int must give nil, not trap.
    // (I8 has 1 byte per element, so no element count can overflow it.)
    if type.bytesPerBlock > 1 {
      let blocks = Int.max / type.bytesPerBlock + 1
      let (elements, overflow) = blocks.multipliedReportingOverflow(by: k)
      if !overflow { #expect(type.byteCount(elements: elements) == nil) }
    }
    #expect(type.byteCount(elements: Int.max / k * k) == nil || type.bytesPerBlock <= k)
    #expect(type.byteCount(elements: Int.min) == nil)
  }

  @Test func decodableSet() {
    let decodable: Set<GGMLType> = [
      .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
    ]
    for type in GGMLType.allCases {
      #expect(type.isDecodable == decodable.contains(type), "\(type.name)")
    }
    #expect(
      !GGMLType.q8_1.isDecodable && !GGMLType.iq2_xxs.isDecodable && !GGMLType.tq2_0.isDecodable)
  }
}
