extension Bench {
  /// `bench --json`: llama-bench's figures (median, minimum and maximum tokens/s of ppN and tgN), resident memory and
  /// this CPU's sgemm bound, inside a `CommandReport`.
  struct Result: Codable {
    var model: String
    var threads: Int
    var promptTokens: Int
    var generateTokens: Int
    var ppTokensPerSecond: Double
    var ppMin: Double
    var ppMax: Double
    var tgTokensPerSecond: Double
    var tgMin: Double
    var tgMax: Double
    var rssAnonBytes: Int
    var rssFileBytes: Int
    var sgemmGFLOPs: Double
    var weightBytes: Int

    enum CodingKeys: String, CodingKey {
      case model, threads
      case promptTokens = "prompt_tokens"
      case generateTokens = "generate_tokens"
      case ppTokensPerSecond = "pp_tokens_per_second"
      case ppMin = "pp_min"
      case ppMax = "pp_max"
      case tgTokensPerSecond = "tg_tokens_per_second"
      case tgMin = "tg_min"
      case tgMax = "tg_max"
      case rssAnonBytes = "rss_anon_bytes"
      case rssFileBytes = "rss_file_bytes"
      case sgemmGFLOPs = "sgemm_gflops"
      case weightBytes = "weight_bytes"
    }
  }

  /// `bench --kernels --json`: decode throughput per type and the tiled product against plain sgemm.
  struct KernelResult: Codable {
    var decode: [KernelBench.Figure]
    var tiledProductGFLOPs: Double
    var plainSgemmGFLOPs: Double

    enum CodingKeys: String, CodingKey {
      case decode
      case tiledProductGFLOPs = "tiled_product_gflops"
      case plainSgemmGFLOPs = "plain_sgemm_gflops"
    }
  }
}
