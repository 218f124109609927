/// ggml tensor type ids as in the GGUF spec (ggml.h enum ggml_type).
///
/// Ids 4 and 5 (the removed Q4_2/Q4_3) and 31-33 (removed Q4_0_4_4 etc.) are gaps on purpose; an
/// unknown id read from a file becomes `nil` through `GGMLType(rawValue:)`, never a trap.
/// ref: ggml/include/ggml.h `enum ggml_type`; docs/gguf.md in ggml-org/ggml.
public enum GGMLType: UInt32, Sendable, CaseIterable {
  case f32 = 0
  case f16 = 1
  case q4_0 = 2
  case q4_1 = 3
  case q5_0 = 6
  case q5_1 = 7
  case q8_0 = 8
  case q8_1 = 9
  case q2_K = 10
  case q3_K = 11
  case q4_K = 12
  case q5_K = 13
  case q6_K = 14
  case q8_K = 15
  case iq2_xxs = 16
  case iq2_xs = 17
  case iq3_xxs = 18
  case iq1_s = 19
  case iq4_nl = 20
  case iq3_s = 21
  case iq2_s = 22
  case iq4_xs = 23
  case i8 = 24
  case i16 = 25
  case i32 = 26
  case i64 = 27
  case f64 = 28
  case iq1_m = 29
  case bf16 = 30
  case tq1_0 = 34
  case tq2_0 = 35
}

/// Weights per K-quant super-block (ggml's `QK_K`).
@usableFromInline let qkK = 256

extension GGMLType {
  /// The type's name as llama.cpp and gguf-py print it ("Q4_K", "F16", "BF16", "IQ2_XXS").
  public var name: String {
    switch self {
    case .f32: "F32"
    case .f16: "F16"
    case .q4_0: "Q4_0"
    case .q4_1: "Q4_1"
    case .q5_0: "Q5_0"
    case .q5_1: "Q5_1"
    case .q8_0: "Q8_0"
    case .q8_1: "Q8_1"
    case .q2_K: "Q2_K"
    case .q3_K: "Q3_K"
    case .q4_K: "Q4_K"
    case .q5_K: "Q5_K"
    case .q6_K: "Q6_K"
    case .q8_K: "Q8_K"
    case .iq2_xxs: "IQ2_XXS"
    case .iq2_xs: "IQ2_XS"
    case .iq3_xxs: "IQ3_XXS"
    case .iq1_s: "IQ1_S"
    case .iq4_nl: "IQ4_NL"
    case .iq3_s: "IQ3_S"
    case .iq2_s: "IQ2_S"
    case .iq4_xs: "IQ4_XS"
    case .i8: "I8"
    case .i16: "I16"
    case .i32: "I32"
    case .i64: "I64"
    case .f64: "F64"
    case .iq1_m: "IQ1_M"
    case .bf16: "BF16"
    case .tq1_0: "TQ1_0"
    case .tq2_0: "TQ2_0"
    }
  }

  /// Weights per block: 1 for plain scalar types, 32 for the legacy quants and IQ4_NL, 256 (`QK_K`)
  /// for the K-quants, the IQ super-block types and the ternary types.
  /// ref: ggml/src/ggml.c `type_traits[].blck_size`.
  public var blockSize: Int {
    switch self {
    case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
    case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl: 32
    case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s, .iq3_s,
      .iq2_s, .iq4_xs, .iq1_m, .tq1_0, .tq2_0:
      qkK
    }
  }

  /// Bytes per block, i.e. `sizeof(block_xxx)` in ggml-common.h.
  ///
  /// Q8_1 is 36 (two fp16 + 32 int8) as ggml static_asserts; gguf-py 0.19.0 still says 40 from the
  /// days when d and s were fp32. Q8_1 only ever exists as a transient activation format.
  /// ref: ggml/src/ggml-common.h block_* structs and their static_asserts.
  public var bytesPerBlock: Int {
    switch self {
    case .f32: 4
    case .f16, .bf16: 2
    case .f64, .i64: 8
    case .i8: 1
    case .i16: 2
    case .i32: 4
    case .q4_0: 2 + 16
    case .q4_1: 2 + 2 + 16
    case .q5_0: 2 + 4 + 16
    case .q5_1: 2 + 2 + 4 + 16
    case .q8_0: 2 + 32
    case .q8_1: 2 + 2 + 32
    case .q2_K: 2 + 2 + qkK / 16 + qkK / 4
    case .q3_K: 2 + qkK / 4 + qkK / 8 + 12
    case .q4_K: 2 + 2 + 12 + qkK / 2
    case .q5_K: 2 + 2 + 12 + qkK / 8 + qkK / 2
    case .q6_K: 2 + qkK / 2 + qkK / 4 + qkK / 16
    case .q8_K: 4 + qkK + qkK / 8
    case .iq2_xxs: 2 + qkK / 4
    case .iq2_xs: 2 + qkK / 4 + qkK / 32
    case .iq3_xxs: 2 + qkK / 4 + qkK / 8
    case .iq1_s: 2 + qkK / 8 + qkK / 16
    case .iq4_nl: 2 + 16
    case .iq3_s: 2 + qkK / 4 + qkK / 8 + qkK / 32 + 4
    case .iq2_s: 2 + qkK / 4 + qkK / 16
    case .iq4_xs: 2 + 2 + qkK / 2 + qkK / 64
    case .iq1_m: qkK / 8 + qkK / 16 + qkK / 32
    case .tq1_0: 2 + 4 * 13
    case .tq2_0: 2 + 64
    }
  }

  /// Whether `ggmlDecode` can turn this type into fp32. The IQ types (grid codebooks), Q8_1/Q8_K
  /// (activation-only formats), the ternary types and the integer/f64 types are not decoded.
  public var isDecodable: Bool {
    switch self {
    case .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K:
      true
    default:
      false
    }
  }

  /// Bytes that `elements` weights of this type occupy, or `nil` when `elements` is negative, not a
  /// multiple of `blockSize`, or the byte count overflows `Int` (all possible with a corrupt file).
  public func byteCount(elements: Int) -> Int? {
    guard elements >= 0, elements % blockSize == 0 else { return nil }
    let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
    return overflow ? nil : bytes
  }
}
