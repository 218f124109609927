/// The unsigned dynamic map and the midpoint tables the encoder searches.
/// ref: Tools/reference/optimizer_state_8bit_reference.py (SPEC sections 1 and 3), which writes these bits.
extension OptimizerStateQuantizer {
  // Fp32 bit patterns, not decimal literals, for the reason NF4Tables gives: a Float literal is converted through a
  // wider type, and a double rounding would move some entries by one ulp from the fp32 values bitsandbytes builds.

  /// bitsandbytes' unsigned dynamic 8-bit map, create_dynamic_map(signed=False): 256 values ascending from 0.0 to
  /// 1.0 (seven decades of 2, 4, ..., 128 linearly spaced means), the map of Adam8bit's second moment (state2).
  /// The signed map of the first moment is `NF4Tables.dynamicMapSigned`.
  public static let dynamicMapUnsigned: [Float] = dynamicMapUnsignedBits.map { Float(bitPattern: $0) }

  /// fp32 midpoints (map[k] + map[k+1]) * 0.5 of each map, 255 values padded with +inf to 256 so that the search
  /// halves a power of two; +inf is never below a scaled value, which lies in [-1, 1] or is NaN.
  static let signedMidpoints = midpoints(of: NF4Tables.dynamicMapSigned)
  static let unsignedMidpoints = midpoints(of: dynamicMapUnsigned)

  /// Where the encoder's scan for s starts, for each value of s's top 16 bits (sign, exponent, 7 mantissa bits): the
  /// number of midpoints below every float of that bucket. A bucket spans 1/128 of an octave, narrower than the
  /// map's steps, so the scan from there passes at most a couple of midpoints (NaN buckets start at 0).
  static let signedScanStarts = scanStarts(signedMidpoints)
  static let unsignedScanStarts = scanStarts(unsignedMidpoints)

  private static func scanStarts(_ mid: [Float]) -> [UInt8] {
    (0..<65_536).map { h -> UInt8 in
      let bits = UInt32(h) << 16
      // The bucket's most negative member: its smallest float if positive, its largest magnitude if negative.
      let lowest =
        bits & 0x8000_0000 == 0 ? Float(bitPattern: bits) : -Float(bitPattern: (bits & 0x7FFF_0000) | 0xFFFF)
      guard !lowest.isNaN else { return 0 }
      var count = 0
      while count < 255 && mid[count] < lowest { count += 1 }
      return UInt8(count)
    }
  }

  private static func midpoints(of map: [Float]) -> [Float] {
    // Two separately rounded fp32 operations, as the kernel's (upper + val) * 0.5f.
    (0..<255).map { k in (map[k] + map[k + 1]) * 0.5 } + [.infinity]
  }

  private static let dynamicMapUnsignedBits: [UInt32] = [
    0x0000_0000, 0x34AE_7BAA, 0x3550_0998, 0x360E_9B38, 0x3692_CCF6, 0x36DE_4C51, 0x3714_E5D5, 0x3783_126E,
    0x37E1_71A0, 0x381F_E868, 0x384F_1800, 0x387E_479A, 0x3896_BB99, 0x38AE_5364, 0x38C5_EB31, 0x3906_594B,
    0x3941_54CA, 0x397C_5049, 0x399B_A5E4, 0x39B9_23A2, 0x39D6_A163, 0x39F4_1F22, 0x3A08_CE71, 0x3A17_8D50,
    0x3A26_4C30, 0x3A35_0B10, 0x3A43_C9EF, 0x3A52_88D0, 0x3A61_47AF, 0x3A70_068E, 0x3A7E_C56E, 0x3A95_8106,
    0x3ABA_5E35, 0x3ADF_3B64, 0x3B02_0C4A, 0x3B14_7AE1, 0x3B26_E978, 0x3B39_5810, 0x3B4B_C6A7, 0x3B5E_3540,
    0x3B70_A3D7, 0x3B81_8937, 0x3B8A_C082, 0x3B93_F7CF, 0x3B9D_2F1A, 0x3BA6_6666, 0x3BAF_9DB2, 0x3BB8_D4FD,
    0x3BC2_0C4A, 0x3BCB_4395, 0x3BD4_7AE1, 0x3BDD_B22E, 0x3BE6_E978, 0x3BF0_20C5, 0x3BF9_580F, 0x3C01_47AE,
    0x3C05_E354, 0x3C0A_7EF9, 0x3C0F_1AA0, 0x3C13_B645, 0x3C18_51EB, 0x3C1C_ED92, 0x3C21_8937, 0x3C2F_5C2A,
    0x3C46_6667, 0x3C5D_70A3, 0x3C74_7AE2, 0x3C85_C28F, 0x3C91_47AF, 0x3C9C_CCCD, 0x3CA8_51EB, 0x3CB3_D70B,
    0x3CBF_5C29, 0x3CCA_E147, 0x3CD6_6667, 0x3CE1_EB87, 0x3CED_70A3, 0x3CF8_F5C3, 0x3D02_3D70, 0x3D08_0000,
    0x3D0D_C28F, 0x3D13_851F, 0x3D19_47AF, 0x3D1F_0A3D, 0x3D24_CCCD, 0x3D2A_8F5C, 0x3D30_51EB, 0x3D36_147B,
    0x3D3B_D70A, 0x3D41_999A, 0x3D47_5C28, 0x3D4D_1EB8, 0x3D52_E147, 0x3D58_A3D7, 0x3D5E_6667, 0x3D64_28F7,
    0x3D69_EB87, 0x3D6F_AE15, 0x3D75_70A3, 0x3D7B_3333, 0x3D80_7AE2, 0x3D83_5C2A, 0x3D86_3D71, 0x3D89_1EB8,
    0x3D8C_0000, 0x3D8E_E148, 0x3D91_C290, 0x3D94_A3D7, 0x3D97_851F, 0x3D9A_6667, 0x3D9D_47AF, 0x3DA0_28F6,
    0x3DA3_0A3E, 0x3DA5_EB85, 0x3DA8_CCCD, 0x3DAB_AE15, 0x3DAE_8F5C, 0x3DB1_70A4, 0x3DB4_51EB, 0x3DB7_3333,
    0x3DBA_147B, 0x3DBC_F5C3, 0x3DBF_D70B, 0x3DC2_B852, 0x3DC5_999A, 0x3DC8_7AE2, 0x3DCB_5C29, 0x3DD4_0000,
    0x3DE2_6666, 0x3DF0_CCCD, 0x3DFF_3333, 0x3E06_CCCC, 0x3E0E_0000, 0x3E15_3334, 0x3E1C_6666, 0x3E23_999A,
    0x3E2A_CCCC, 0x3E32_0000, 0x3E39_3334, 0x3E40_6666, 0x3E47_999A, 0x3E4E_CCCC, 0x3E56_0000, 0x3E5D_3334,
    0x3E64_6666, 0x3E6B_999A, 0x3E72_CCCC, 0x3E7A_0000, 0x3E80_9999, 0x3E84_3333, 0x3E87_CCCD, 0x3E8B_6666,
    0x3E8F_0000, 0x3E92_999A, 0x3E96_3333, 0x3E99_CCCC, 0x3E9D_6666, 0x3EA1_0000, 0x3EA4_999A, 0x3EA8_3333,
    0x3EAB_CCCC, 0x3EAF_6666, 0x3EB3_0000, 0x3EB6_999A, 0x3EBA_3333, 0x3EBD_CCCC, 0x3EC1_6666, 0x3EC5_0000,
    0x3EC8_999A, 0x3ECC_3333, 0x3ECF_CCCC, 0x3ED3_6666, 0x3ED7_0000, 0x3EDA_999A, 0x3EDE_3333, 0x3EE1_CCCC,
    0x3EE5_6666, 0x3EE9_0000, 0x3EEC_999A, 0x3EF0_3333, 0x3EF3_CCCC, 0x3EF7_6666, 0x3EFB_0000, 0x3EFE_9999,
    0x3F01_199A, 0x3F02_E666, 0x3F04_B333, 0x3F06_8000, 0x3F08_4CCC, 0x3F0A_199A, 0x3F0B_E666, 0x3F0D_B334,
    0x3F0F_8000, 0x3F11_4CCD, 0x3F13_199A, 0x3F14_E666, 0x3F16_B334, 0x3F18_8000, 0x3F1A_4CCD, 0x3F1C_199A,
    0x3F1D_E666, 0x3F1F_B334, 0x3F21_8000, 0x3F23_4CCD, 0x3F25_199A, 0x3F26_E666, 0x3F28_B334, 0x3F2A_8000,
    0x3F2C_4CCD, 0x3F2E_199A, 0x3F2F_E666, 0x3F31_B334, 0x3F33_8000, 0x3F35_4CCD, 0x3F37_199A, 0x3F38_E666,
    0x3F3A_B334, 0x3F3C_8000, 0x3F3E_4CCD, 0x3F40_199A, 0x3F41_E666, 0x3F43_B334, 0x3F45_8000, 0x3F47_4CCC,
    0x3F49_199A, 0x3F4A_E666, 0x3F4C_B334, 0x3F4E_8000, 0x3F50_4CCC, 0x3F52_199A, 0x3F53_E666, 0x3F55_B334,
    0x3F57_8000, 0x3F59_4CCC, 0x3F5B_199A, 0x3F5C_E666, 0x3F5E_B334, 0x3F60_8000, 0x3F62_4CCC, 0x3F64_199A,
    0x3F65_E666, 0x3F67_B334, 0x3F69_8000, 0x3F6B_4CCC, 0x3F6D_199A, 0x3F6E_E666, 0x3F70_B334, 0x3F72_8000,
    0x3F74_4CCC, 0x3F76_199A, 0x3F77_E666, 0x3F79_B334, 0x3F7B_8000, 0x3F7D_4CCC, 0x3F7F_199A, 0x3F80_0000,
  ]
}
