internal import CBLAS

/// The big products, through OpenBLAS. Row-major everywhere.
public enum BLAS {
  /// Sets OpenBLAS's own thread pool size. EdgeTune parallelizes around BLAS calls with 1 BLAS thread each,
  /// or gives BLAS all threads and runs one call at a time: never both (STYLE.md: one thread pool at a time).
  public static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }

  public static var threads: Int { Int(openblas_get_num_threads()) }

  /// C (m×n, leading dimension ldc) = alpha · A · Bᵀ + beta · C, with A (m×k, lda) and B (n×k, ldb).
  /// The shape of every linear layer: activations (tokens × in) times a weight tile (rows × in) transposed.
  public static func gemmABt(
    m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    if m == 1 {
      gemvBx(n: n, k: k, alpha: alpha, b: b, ldb: ldb, x: a, beta: beta, y: c)
      return
    }
    gemm(
      transposeA: false, transposeB: true, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
      beta: beta, c: c, ldc: ldc)
  }

  /// y (n) = alpha · B (n×k, ldb) · x (k) + beta · y: the one-token case of `gemmABt`, which OpenBLAS's gemm
  /// handles poorly (it packs B as for a large product).
  public static func gemvBx(
    n: Int, k: Int, alpha: Float = 1, b: UnsafePointer<Float>, ldb: Int, x: UnsafePointer<Float>, beta: Float = 0,
    y: UnsafeMutablePointer<Float>
  ) {
    guard n > 0 else { return }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), x, 1, beta, y, 1)
  }

  /// C (m×n) = alpha · op(A) · op(B) + beta · C, op = transpose when asked. A is m×k after op, B is k×n after op.
  public static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    guard m > 0, n > 0 else { return }
    cblas_sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }
}
