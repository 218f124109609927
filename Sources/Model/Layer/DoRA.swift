internal import Tensor

/// DoRA's trainable magnitude on one projection, beside its LoRA pair (`LoRAView.dora`): the layer computes
/// y = (m / N) ⊙ (x Wᵀ + s · (x Aᵀ) Bᵀ), where N_j = ‖W_j + s (B A)_j‖ is the norm of output row j of the adapted
/// weight and m starts at ‖W_j‖, so the adapted model starts equal to the base model.
///
/// Unlike PEFT, which detaches N from the graph (the DoRA paper's §4.3, to save GPU memory), the backward here
/// differentiates through N: the gradients are exact, and they cost one more r-row product with W.
/// ref: Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation"; PEFT src/peft/tuners/lora/dora.py.
public struct DoRAView: @unchecked Sendable {
  // @unchecked Sendable: views into buffers owned by the adapter set, used by one step at a time.
  /// m (out).
  public var magnitude: UnsafeMutablePointer<Float>
  /// dm (out), accumulated into by backward.
  public var gradMagnitude: UnsafeMutablePointer<Float>
  /// ‖W_j‖² of the frozen weight's rows (out), computed once when the adapter meets the model.
  public var baseRowNormsSquared: UnsafePointer<Float>

  public init(
    magnitude: UnsafeMutablePointer<Float>, gradMagnitude: UnsafeMutablePointer<Float>,
    baseRowNormsSquared: UnsafePointer<Float>
  ) {
    self.magnitude = magnitude
    self.gradMagnitude = gradMagnitude
    self.baseRowNormsSquared = baseRowNormsSquared
  }
}

/// Where a DoRA projection's forward works, for T tokens, rank r, in → out features:
/// - stackedInput (T + r, in): x with A's rows under it, so one pass over W gives x Wᵀ and A Wᵀ (scratch);
/// - stackedOutput (T + r, out): u = x Wᵀ + s (x Aᵀ) Bᵀ in the first T rows, Q = A Wᵀ in the last r (backward reads
///   both);
/// - norms (out): N (backward reads it).
public struct DoRABuffers {
  public var stackedInput: UnsafeMutablePointer<Float>
  public var stackedOutput: UnsafeMutablePointer<Float>
  public var norms: UnsafeMutablePointer<Float>

  public init(
    stackedInput: UnsafeMutablePointer<Float>, stackedOutput: UnsafeMutablePointer<Float>,
    norms: UnsafeMutablePointer<Float>
  ) {
    self.stackedInput = stackedInput
    self.stackedOutput = stackedOutput
    self.norms = norms
  }
}

/// output (T, out) = (m / N) ⊙ (x Wᵀ + s · ((x ⊙ mask) Aᵀ) Bᵀ), leaving u, Q and N in `buffers` and the LoRA hidden
/// state in `hidden` (T, r).
public func doraForward(
  input x: UnsafePointer<Float>, tokens n: Int, weight: any FrozenMatrix, lora view: LoRAView, dora: DoRAView,
  dropoutMask: UnsafePointer<Float>?, hidden: UnsafeMutablePointer<Float>, buffers: DoRABuffers,
  output y: UnsafeMutablePointer<Float>, tiles: borrowing DecodeTiles
) {
  let r = view.rank
  let inFeatures = weight.cols
  let out = weight.rows
  buffers.stackedInput.update(from: x, count: n * inFeatures)
  (buffers.stackedInput + n * inFeatures).update(from: view.a, count: r * inFeatures)
  frozenLinearForward(
    input: buffers.stackedInput, tokens: n + r, weight: weight, output: buffers.stackedOutput, ldOutput: out,
    tiles: tiles)
  let u = buffers.stackedOutput
  loraForward(
    input: x, a: view.a, b: view.b, scale: view.scale, dropoutMask: dropoutMask, output: u, hidden: hidden,
    tokens: n, inFeatures: inFeatures, outFeatures: out, rank: r)
  doraNorms(q: u + n * out, lora: view, dora: dora, inFeatures: inFeatures, outFeatures: out, norms: buffers.norms)
  withUnsafeTemporaryAllocation(of: Float.self, capacity: out) { factor in
    for j in 0..<out { factor[j] = dora.magnitude[j] / buffers.norms[j] }
    for t in 0..<n { multiply(u + t * out, factor.baseAddress!, into: y + t * out, count: out) }
  }
}

/// N_j = ‖W_j + s (B A)_j‖ from ‖W_j‖², Q = A Wᵀ (r, out) and G = A Aᵀ, without forming W + s B A:
/// N_j² = ‖W_j‖² + 2s Σ_k B_jk Q_kj + s² B_j G B_jᵀ (accumulated in Double; the first term dominates).
func doraNorms(
  q: UnsafePointer<Float>, lora view: LoRAView, dora: DoRAView, inFeatures: Int, outFeatures out: Int,
  norms: UnsafeMutablePointer<Float>
) {
  let r = view.rank
  let s = Double(view.scale)
  withUnsafeTemporaryAllocation(of: Float.self, capacity: r * r) { gramBuffer in
    let gram = gramBuffer.baseAddress!
    gramOfRows(view.a, rank: r, inFeatures: inFeatures, into: gram)
    for j in 0..<out {
      let bj = view.b + j * r
      var cross = 0.0
      var quadratic = 0.0
      for i in 0..<r {
        cross += Double(bj[i]) * Double(q[i * out + j])
        var row = 0.0
        for k in 0..<r { row += Double(gram[i * r + k]) * Double(bj[k]) }
        quadratic += Double(bj[i]) * row
      }
      let squared = Double(dora.baseRowNormsSquared[j]) + 2 * s * cross + s * s * quadratic
      norms[j] = Float(max(squared, Double.leastNormalMagnitude).squareRoot())
    }
  }
}

/// Backward of `doraForward`: with dy (T, out) and c = m / N, S_j = Σ_t dy_tj u_tj,
///   dm += S / N;  the frozen and LoRA paths see dy ⊙ c;
///   through N (dN_j = −m_j S_j / N_j², dV_j = dN_j V_j / N_j for V = W + s B A, e_j = −m_j S_j / N_j³):
///   dB_jk += s e_j (Q_kj + s (B G)_jk);  dA += s (Hᵀ W + s (Hᵀ B) A) with H = diag(e) B.
/// - Parameters:
///   - inputGradient: dx (T, in), ACCUMULATED.
///   - scratch: (T + r, max(in, out)) floats of work space; `buffers.stackedInput` is reused as well.
///   - partials: frozenLinearBackward's per-worker space for T + r tokens.
public func doraBackward(
  input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
  inputGradient dx: UnsafeMutablePointer<Float>, tokens n: Int, weight: any FrozenMatrix, lora view: LoRAView,
  dora: DoRAView, dropoutMask: UnsafePointer<Float>?, hidden: UnsafePointer<Float>, buffers: DoRABuffers,
  scratch: UnsafeMutablePointer<Float>, partials: UnsafeMutablePointer<Float>, tiles: borrowing DecodeTiles
) {
  let r = view.rank
  let inFeatures = weight.cols
  let out = weight.rows
  let s = view.scale
  let u = buffers.stackedOutput
  let q = u + n * out
  let N = buffers.norms
  withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * out) { vectors in
    let e = vectors.baseAddress!
    let c = e + out
    // S_j (row by row, in Double), then dm_j, e_j, and the scaled output gradient ĝ = dy ⊙ c in `scratch`.
    withUnsafeTemporaryAllocation(of: Double.self, capacity: out) { sums in
      sums.initialize(repeating: 0)
      for t in 0..<n {
        for j in 0..<out { sums[j] += Double(dy[t * out + j]) * Double(u[t * out + j]) }
      }
      for j in 0..<out {
        let norm = Double(N[j])
        let m = Double(dora.magnitude[j])
        dora.gradMagnitude[j] += Float(sums[j] / norm)
        e[j] = Float(-m * sums[j] / (norm * norm * norm))
        c[j] = dora.magnitude[j] / N[j]
      }
    }
    for t in 0..<n { multiply(dy + t * out, c, into: scratch + t * out, count: out) }
    frozenLinearBackward(
      outputGradient: scratch, ldOutputGradient: out, tokens: n, weight: weight, inputGradient: dx, tiles: tiles,
      partials: partials)
    loraBackward(
      input: x, a: view.a, b: view.b, scale: s, dropoutMask: dropoutMask, hidden: hidden, outputGradient: scratch,
      inputGradient: dx, aGradient: view.gradA, bGradient: view.gradB, tokens: n, inFeatures: inFeatures,
      outFeatures: out, rank: r)
    // Through N. Hᵀ (r, out) in scratch; dB from Q and B·G; dA from Hᵀ W (in stackedInput) and (Hᵀ B) A.
    let ht = scratch
    for k in 0..<r {
      for j in 0..<out { ht[k * out + j] = e[j] * view.b[j * r + k] }
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * r * r) { small in
      let gram = small.baseAddress!
      let htb = gram + r * r
      gramOfRows(view.a, rank: r, inFeatures: inFeatures, into: gram)
      for j in 0..<out {
        let bj = view.b + j * r
        for k in 0..<r {
          var bg: Float = 0
          for i in 0..<r { bg += bj[i] * gram[i * r + k] }
          view.gradB[j * r + k] += s * e[j] * (q[k * out + j] + s * bg)
        }
      }
      // Hᵀ B (r, r)
      for i in 0..<r {
        for k in 0..<r {
          var sum: Float = 0
          for j in 0..<out { sum += ht[i * out + j] * view.b[j * r + k] }
          htb[i * r + k] = sum
        }
      }
      let htw = buffers.stackedInput
      htw.initialize(repeating: 0, count: r * inFeatures)
      frozenLinearBackward(
        outputGradient: ht, ldOutputGradient: out, tokens: r, weight: weight, inputGradient: htw, tiles: tiles,
        partials: partials)
      for i in 0..<r {
        let gradRow = view.gradA + i * inFeatures
        for col in 0..<inFeatures {
          var sum: Float = 0
          for k in 0..<r { sum += htb[i * r + k] * view.a[k * inFeatures + col] }
          gradRow[col] += s * (htw[i * inFeatures + col] + s * sum)
        }
      }
    }
  }
}

/// G = A Aᵀ (r, r) of A (r, in): the norms in the forward and the norm's gradient in the backward both need it.
private func gramOfRows(
  _ a: UnsafePointer<Float>, rank r: Int, inFeatures: Int, into gram: UnsafeMutablePointer<Float>
) {
  for i in 0..<r {
    for k in 0..<r { gram[i * r + k] = dot(a + i * inFeatures, a + k * inFeatures, count: inFeatures) }
  }
}

/// ‖W_j‖² for every row of a frozen matrix (DoRA's starting magnitude is its square root), decoded a block of
/// rows at a time into `tiles`' first tile.
public func rowNormsSquared(
  of weight: any FrozenMatrix, into norms: UnsafeMutablePointer<Float>, tiles: borrowing DecodeTiles
) {
  let rows = max(1, tiles.tileFloats / max(weight.cols, 1))
  precondition(weight.cols <= tiles.tileFloats, "a row of \(weight.cols) floats does not fit a decode tile")
  let tile = tiles.tile(0)
  var start = 0
  while start < weight.rows {
    let count = min(rows, weight.rows - start)
    weight.decodeRows(start..<(start + count), into: tile)
    for i in 0..<count {
      let row = tile + i * weight.cols
      norms[start + i] = dot(row, row, count: weight.cols)
    }
    start += count
  }
}
