import Tensor
import Testing

/// A row-major matrix with `rows` × `cols` meaningful entries stored with leading dimension `ld` ≥ cols.
/// Padding is NaN, so a kernel that reads past the width poisons its result.
struct StridedMatrix {
  var rows: Int, cols: Int, ld: Int
  var storage: [Float]

  init(rows: Int, cols: Int, padding: Int, seed: UInt64) {
    self.rows = rows
    self.cols = cols
    self.ld = cols + padding
    let values = randomFloats(rows * cols, seed: seed)
    storage = [Float](repeating: .nan, count: max(rows * ld, 1))
    for r in 0..<rows { for c in 0..<cols { storage[r * ld + c] = values[r * cols + c] } }
  }

  subscript(r: Int, c: Int) -> Double { Double(storage[r * ld + c]) }
}

/// Naive twin of `BLAS.gemm` in Double: C = alpha · op(A) · op(B) + beta · C over the meaningful entries only.
func gemmReference(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: StridedMatrix, b: StridedMatrix,
  beta: Double, c: StridedMatrix
) -> [Double] {
  var out = [Double](repeating: 0, count: m * n)
  for i in 0..<m {
    for j in 0..<n {
      var sum = 0.0
      for p in 0..<k { sum += (transposeA ? a[p, i] : a[i, p]) * (transposeB ? b[j, p] : b[p, j]) }
      out[i * n + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i, j])
    }
  }
  return out
}

/// The meaningful m×n entries of `c`, and whether its padding still holds `sentinel`.
func unpack(_ c: StridedMatrix, sentinel: Float) -> (values: [Float], paddingIntact: Bool) {
  var values = [Float]()
  var intact = true
  for r in 0..<c.rows {
    for col in 0..<c.ld {
      let v = c.storage[r * c.ld + col]
      if col < c.cols { values.append(v) } else if v != sentinel { intact = false }
    }
  }
  return (values, intact)
}

@Suite struct BLASTests {
  struct Case: Sendable, CustomTestStringConvertible {
    var transposeA = false, transposeB = false
    var m: Int, n: Int, k: Int
    var padding = 0
    var alpha: Float = 1, beta: Float = 0
    var testDescription: String {
      "\(transposeA ? "Aᵀ" : "A")\(transposeB ? "Bᵀ" : "B") \(m)×\(n)×\(k) pad\(padding) α\(alpha) β\(beta)"
    }
  }

  static let gemmCases: [Case] = [
    Case(m: 1, n: 1, k: 1),
    Case(m: 4, n: 5, k: 6),
    Case(m: 7, n: 3, k: 33, padding: 3),
    Case(transposeA: true, m: 5, n: 9, k: 4, padding: 2),
    Case(transposeB: true, m: 6, n: 10, k: 17, padding: 5, alpha: 0.5),
    Case(transposeA: true, transposeB: true, m: 3, n: 8, k: 12, padding: 1, alpha: -2, beta: 1),
    Case(m: 16, n: 64, k: 64, padding: 7, alpha: 1, beta: 0.25),
    Case(m: 1, n: 40, k: 24, padding: 4),
  ]

  static let gemmABtCases: [Case] = [
    Case(transposeB: true, m: 1, n: 1, k: 1),
    Case(transposeB: true, m: 1, n: 37, k: 20, padding: 3),  // one token: the matrix–vector case
    Case(transposeB: true, m: 1, n: 12, k: 8, padding: 2, alpha: 0.125, beta: 1),
    Case(transposeB: true, m: 2, n: 5, k: 3),
    Case(transposeB: true, m: 9, n: 31, k: 64, padding: 6, alpha: 0.5),
    Case(transposeB: true, m: 5, n: 7, k: 11, padding: 1, alpha: 1, beta: -1),
  ]

  /// Builds A, B and C for `t` (stored shapes follow the transposes), runs `body`, checks against the twin.
  func check(_ t: Case, seed: UInt64, _ body: (inout StridedMatrix, StridedMatrix, StridedMatrix) -> Void) {
    let a =
      t.transposeA
      ? StridedMatrix(rows: t.k, cols: t.m, padding: t.padding, seed: seed)
      : StridedMatrix(rows: t.m, cols: t.k, padding: t.padding, seed: seed)
    let b =
      t.transposeB
      ? StridedMatrix(rows: t.n, cols: t.k, padding: t.padding + 1, seed: seed + 1)
      : StridedMatrix(rows: t.k, cols: t.n, padding: t.padding + 1, seed: seed + 1)
    let sentinel: Float = 12345
    var c = StridedMatrix(rows: t.m, cols: t.n, padding: t.padding + 2, seed: seed + 2)
    for r in 0..<t.m {
      for col in 0..<c.ld {
        // With beta = 0, BLAS must not read C: NaN there would show up in the result.
        if col >= t.n { c.storage[r * c.ld + col] = sentinel } else if t.beta == 0 { c.storage[r * c.ld + col] = .nan }
      }
    }
    let want = gemmReference(
      transposeA: t.transposeA, transposeB: t.transposeB, m: t.m, n: t.n, k: t.k, alpha: Double(t.alpha), a: a,
      b: b, beta: Double(t.beta), c: c)
    body(&c, a, b)
    let (got, intact) = unpack(c, sentinel: sentinel)
    // k ≤ 64 products summed in Float: ≤ 64·u ≈ 4e-6 of Σ|a·b|, which inputs in [-1, 1] keep near ‖C‖∞.
    #expect(normwiseRelativeError(got, want) <= relativeTolerance)
    #expect(intact, "C's padding beyond n was written")
  }

  @Test(arguments: gemmCases)
  func gemmMatchesNaiveLoops(_ t: Case) {
    check(t, seed: UInt64(t.m * 10_000 + t.n * 100 + t.k)) { c, a, b in
      BLAS.gemm(
        transposeA: t.transposeA, transposeB: t.transposeB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
        a: a.storage, lda: a.ld, b: b.storage, ldb: b.ld, beta: t.beta, c: &c.storage, ldc: c.ld)
    }
  }

  @Test(arguments: gemmABtCases)
  func gemmABtMatchesNaiveLoops(_ t: Case) {
    check(t, seed: UInt64(t.m * 10_000 + t.n * 100 + t.k) + 7) { c, a, b in
      BLAS.gemmABt(
        m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: a.storage, lda: a.ld, b: b.storage, ldb: b.ld, beta: t.beta,
        c: &c.storage, ldc: c.ld)
    }
  }

  @Test func emptyProductsDoNothing() {
    var c: [Float] = [42]
    BLAS.gemm(transposeA: false, transposeB: false, m: 0, n: 1, k: 1, a: [1], lda: 1, b: [1], ldb: 1, c: &c, ldc: 1)
    BLAS.gemmABt(m: 1, n: 0, k: 1, a: [1], lda: 1, b: [1], ldb: 1, c: &c, ldc: 1)
    #expect(c == [42])
  }
}
