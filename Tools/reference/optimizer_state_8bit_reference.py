#!/usr/bin/env python3
"""Independent numpy reference of bitsandbytes' blockwise 8-bit optimizer states (Adam8bit / AdamW8bit, block 256),
and the writer of EdgeTune's golden files for it.

Written from a reading of bitsandbytes' source (no code copied); numpy only, no torch/bnb.

================================================================================================
SPEC  (what EdgeTune's Swift OptimizerStateQuantizer implements; every arithmetic step is IEEE-754
       binary32 with round-to-nearest-even unless a step says otherwise; no FMA contraction)
================================================================================================
References (bitsandbytes-foundation/bitsandbytes):
  F = bitsandbytes/functional.py: create_dynamic_map
  O = bitsandbytes/optim/optimizer.py: Optimizer2State.init_state / fill_qmap ("dynamic" and
      "udynamic" maps, blocksize 256, state1/state2 uint8 + absmax1/absmax2 fp32 per block)
  K = csrc/cuda/optimizers.cu (formerly csrc/kernels.cu): quantize_2D<SIGNED>,
      kOptimizerStatic8bit2StateBlockwise
  Q = csrc/kernels.cu dQuantize<0> / kQuantizeBlockwise (F quantize_blockwise on CUDA),
      csrc/common.cpp quantize_block (the old C++ CPU path), backends/default/ops.py and
      backends/triton/kernels_8bit_quant.py (the pure-torch and Triton paths)

1. Maps (F create_dynamic_map(signed, max_exponent_bits=7, total_bits=8); O: state1 -> signed,
   state2 -> unsigned):
     for i in 0..6:  m = 2**i + 1 (signed) or 2**(i+1) + 1 (unsigned) boundaries of
                     linspace(0.1, 1.0, m) in fp32; means = (b[:-1] + b[1:]) / 2 (fp32);
                     values = fp32(10**(i-6)) * means (fp32), plus their negations if signed
     plus 0.0 and 1.0, sorted ascending -> 256 fp32 values.
   signed:   127 + 127 + 2; map[0] = -0.99296875, map[127] = 0.0, map[255] = 1.0.
   unsigned: 2 + 4 + ... + 128 = 254 positive values + 0.0 + 1.0; map[0] = 0.0, map[255] = 1.0.
   linspace is emulated as nf4_reference._linspace_f32_bnb (which reproduces the published signed
   table bit for bit); the signed map equals nf4_reference.dynamic_map_signed() (checked).

2. Blocks: the state is flat, n elements, blocks of B = 256 consecutive elements (B is a parameter
   here; bnb's optimizers hard-code 256); nblocks = ceil(n / B); the last block may be partial.
   absmax[b] = max |x| over the VALID elements of block b (fp32, exact; K reduces with fmaxf).

3. Code of one element x of block b with a = absmax[b] > 0:
     s = x / a                          (fp32 division, correctly rounded; K uses __fdividef(x, a),
                                         CUDA's approximate quotient, which a CPU cannot reproduce)
     c = quantize_2D(s)                 (K; identical in result to Q's dQuantize<0>), literally:
         pivot=127; upper_pivot=255; lower_pivot=0; lower=(-1.0f if signed else 0.0f); upper=1.0f
         val=map[127]
         for step in 64,32,16,8,4,2,1:
             if s > val: lower_pivot=pivot; lower=val; pivot+=step
             else:       upper_pivot=pivot; upper=val; pivot-=step
             val = map[pivot]
         if s > val:  mid = (upper + val) * 0.5f; c = upper_pivot if s > mid else pivot
         else:        mid = (lower + val) * 0.5f; c = lower_pivot if s < mid else pivot
     Equivalent rule (checked in self_check for both maps): with the fp32 midpoints
     mid[k] = (map[k] + map[k+1]) * 0.5f, c = number of mid[k] < s, except that an s EXACTLY equal
     to a midpoint goes to the EVEN one of its two codes (the final pivot is always even).
     NaN compares false everywhere -> c = 0. For the unsigned map a negative s gets c = 0 (0.0).
   Signed map only (K, state1): keep the sign of x:
     if signbit(map[c]) != signbit(x): c += 1 if x > 0 else -1      (uint8 arithmetic)
   This fires only when a negative x (or -0.0) rounds to map[127] = +0.0: it gets c = 126, the
   smallest negative code, instead. Tiny positive x still round to 0.0.
   a = 0 (an all-zero block): every c = the code of 0.0 (127 signed, 0 unsigned). EdgeTune's choice:
     K computes 0/0 = NaN -> c = 0, and for state1 the sign rule then turns it into 255; both decode
     to zero (map[c] * 0), so only the stored bytes differ, and NaN never reaches the search.

   Other bitsandbytes paths use other rules, all of them "nearest code" up to ties and fp32 rounding:
     Q dQuantize (F quantize_blockwise on CUDA): s = x * (1.0f / a), same midpoint rule, no sign rule.
     common.cpp quantize_block (old CPU): s = x / a, binary search for the left neighbour, then the
       nearer of the two by fp32 |s - map[k]|, ties to the LOWER index; overwrites map[0] with -1.0.
     backends/default, backends/triton: argmin |s - map| (ties to the lower index), s clamped to
       [-1, 1]; the pure-torch one replaces a = 0 by 1.0.
   EdgeTune follows K because K is what Adam8bit runs; the goldens pin every tie.

4. Decoding (K: smem_quantiles[c] * absmax[b]; Q kDequantizeBlockwise): y = map[c] * a  (one fp32
   multiply). An all-zero block decodes to +0.0.

5. Storage: n code bytes + 4 bytes of fp32 absmax per block = n + 4 * ceil(n / B) bytes.
   Worst-case error |y - x| <= h * a + fp32 rounding (< 1e-6 * a), with h = half the widest gap of the map
   (signed: 0.9/128 = 0.00703125, which is also 1 - |map[0]|; unsigned: 0.9/256 = 0.003515625).
================================================================================================

Goldens: Tests/QuantizationTests/Fixtures/optimizer_state_8bit/ (deterministic; re-record only on request)
  manifest.json                         cases, parameters, files
  dynamic_map_unsigned.f32              create_dynamic_map(signed=False), 256 fp32 LE
  dynamic_map_signed.f32                create_dynamic_map(signed=True), 256 fp32 LE
  <map>.input.f32                       1000 fp32 LE inputs (4 blocks of 256, the last partial: 232)
  <map>.bs<B>.codes.u8 / .absmax.f32    expected codes (uint8[n]) and absmax (fp32[ceil(n/B)]), B = 256, 64
Usage: /root/.cache/edgetune/venv/bin/python Tools/reference/optimizer_state_8bit_reference.py [output_dir]
       ... --check   (self-check only, writes nothing)
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nf4_reference as R  # noqa: E402

F32 = np.float32
SEED = 20250611
N = 1000
BLOCK_SIZES = (256, 64)
DEFAULT_OUT = os.path.join(HERE, "..", "..", "Tests", "QuantizationTests", "Fixtures", "optimizer_state_8bit")

# Half the widest gap between adjacent map values (SPEC section 5).
ERROR_BOUND = {"signed": 0.9 / 128, "unsigned": 0.9 / 256}


def dynamic_map(signed):
    """create_dynamic_map(signed, max_exponent_bits=7, total_bits=8): 256 sorted fp32 values (SPEC 1)."""
    max_exponent_bits, total_bits = 7, 8
    non_sign_bits = total_bits - 1
    data = []
    for i in range(max_exponent_bits):
        extra = 0 if signed else 1
        items = 2 ** (i + non_sign_bits - max_exponent_bits + extra) + 1
        b = R._linspace_f32_bnb(0.1, 1.0, items)
        means = ((b[:-1] + b[1:]) / F32(2.0)).astype(F32)
        vals = (F32(10.0 ** (i - (max_exponent_bits - 1))) * means).astype(F32)
        data.extend(vals.tolist())
        if signed:
            data.extend((-vals).tolist())
    # additional_items = 2**(non_sign_bits - max_exponent_bits) - 1 = 0 for these parameters
    data.append(0.0)
    data.append(1.0)
    assert len(data) == 2 ** total_bits
    data.sort()
    return np.array(data, dtype=F32)


def quantize_2d(s, code, signed):
    """Vectorised literal port of K's quantize_2D<SIGNED> binary search (SPEC section 3)."""
    s = np.asarray(s, dtype=F32).reshape(-1)
    code = np.asarray(code, dtype=F32)
    m = s.size
    pivot = np.full(m, 127, dtype=np.int64)
    upper_pivot = np.full(m, 255, dtype=np.int64)
    lower_pivot = np.zeros(m, dtype=np.int64)
    lower = np.full(m, -1.0 if signed else 0.0, dtype=F32)
    upper = np.full(m, 1.0, dtype=F32)
    val = code[pivot]
    with np.errstate(invalid="ignore"):
        step = 64
        while step > 0:
            gt = s > val
            lower_pivot = np.where(gt, pivot, lower_pivot)
            lower = np.where(gt, val, lower)
            upper_pivot = np.where(gt, upper_pivot, pivot)
            upper = np.where(gt, upper, val)
            pivot = np.where(gt, pivot + step, pivot - step)
            val = code[pivot]
            step >>= 1
        gt = s > val
        mid_up = ((upper + val).astype(F32) * F32(0.5)).astype(F32)
        mid_lo = ((lower + val).astype(F32) * F32(0.5)).astype(F32)
        res = np.where(gt, np.where(s > mid_up, upper_pivot, pivot), np.where(s < mid_lo, lower_pivot, pivot))
    return res.astype(np.int64)


def midpoint_rule(s, code):
    """The equivalent statement of quantize_2D: count of fp32 midpoints below s, exact ties to the even code."""
    s = np.asarray(s, dtype=F32).reshape(-1)
    mids = ((code[:-1] + code[1:]).astype(F32) * F32(0.5)).astype(F32)
    lo = np.searchsorted(mids, s, side="left")   # midpoints < s
    le = np.searchsorted(mids, s, side="right")  # midpoints <= s
    tie = le > lo
    res = np.where(tie, np.where(lo % 2 == 0, lo, lo + 1), lo)
    res[np.isnan(s)] = 0
    return res.astype(np.int64)


def quantize_state(x, signed, blocksize=256):
    """-> (codes uint8[n], absmax fp32[ceil(n/blocksize)]): SPEC sections 2 and 3."""
    code = dynamic_map(signed)
    x = np.ascontiguousarray(x, dtype=F32).reshape(-1)
    n = x.size
    nblocks = -(-n // blocksize)
    codes = np.empty(n, dtype=np.uint8)
    absmax = np.empty(nblocks, dtype=F32)
    zero_code = 127 if signed else 0
    assert code[zero_code] == 0.0
    for b in range(nblocks):
        blk = x[b * blocksize:(b + 1) * blocksize]
        a = F32(np.abs(blk).max())
        absmax[b] = a
        if a == 0:
            codes[b * blocksize:b * blocksize + blk.size] = zero_code
            continue
        s = (blk / a).astype(F32)
        c = quantize_2d(s, code, signed)
        if signed:
            flip = np.signbit(code[c]) != np.signbit(blk)
            c = np.where(flip, np.where(blk > 0, c + 1, c - 1), c) & 0xFF
        codes[b * blocksize:b * blocksize + blk.size] = c.astype(np.uint8)
    return codes, absmax


def dequantize_state(codes, absmax, signed, blocksize=256):
    """y = map[c] * absmax[block] (fp32), SPEC section 4."""
    code = dynamic_map(signed)
    codes = np.asarray(codes, dtype=np.uint8).reshape(-1)
    per = np.repeat(np.asarray(absmax, dtype=F32), blocksize)[: codes.size]
    return (code[codes] * per).astype(F32)


def self_check():
    """Internal consistency checks of the facts the SPEC states."""
    sm, um = dynamic_map(True), dynamic_map(False)
    assert np.array_equal(sm.view(np.uint32), R.dynamic_map_signed().view(np.uint32)), "signed map != nf4_reference"
    for code in (sm, um):
        assert code.size == 256 and np.all(np.diff(code) > 0) and code[255] == 1.0
    assert sm[127] == 0.0 and sm[0] == -sm[254] and um[0] == 0.0 and np.all(um >= 0)
    for name, code in (("signed", sm), ("unsigned", um)):
        gaps = np.diff(code.astype(np.float64))
        assert abs(gaps.max() / 2 - ERROR_BOUND[name]) < 1e-7, (name, gaps.max() / 2)
    # quantize_2D == midpoint rule with ties to the even code, for both maps
    rng = np.random.default_rng(0)
    for signed, code in ((True, sm), (False, um)):
        mids = ((code[:-1] + code[1:]).astype(F32) * F32(0.5)).astype(F32)
        probe = np.concatenate([
            rng.uniform(-1, 1, 200000).astype(F32), (rng.uniform(0, 1, 50000) ** 8).astype(F32),
            code, mids, np.nextafter(mids, F32(2)), np.nextafter(mids, F32(-2)),
            np.array([-1.0, 1.0, 0.0, -0.0, np.nan, -1e-30, 1e-30], F32)])
        got = quantize_2d(probe, code, signed)
        assert np.array_equal(got, midpoint_rule(probe, code)), "quantize_2D != midpoint rule"
        # ties really happen: every midpoint is hit and goes to the even code
        t = quantize_2d(mids, code, signed)
        assert np.all(t % 2 == 0)
    # round trip within the bound; sign kept for the signed map
    for signed in (True, False):
        x = rng.standard_normal(4097).astype(F32)
        x = x if signed else (x * x).astype(F32)
        c, a = quantize_state(x, signed)
        y = dequantize_state(c, a, signed)
        # + 1e-6: the fp32 rounding of the quotient and of the decode product, relative to absmax
        bound = (ERROR_BOUND["signed" if signed else "unsigned"] + 1e-6) * np.repeat(a, 256)[: x.size]
        assert np.all(np.abs(y - x) <= bound)
        if signed:
            assert np.all((y < 0) | (x >= 0)) and np.all((y > 0) | (x <= 0) | (np.abs(x) < 1e-6 * np.max(a)))
    return True


def golden_input(rng, signed):
    """1000 values: a tie block, an all-zero block, a mixed block, a partial heavy-tailed block."""
    code = dynamic_map(signed)
    mids = ((code[:-1] + code[1:]).astype(F32) * F32(0.5)).astype(F32)
    # Block 0 (absmax 1.0, so s == x): 1.0 first, then 85 midpoints spread over the map, exactly and +-1 ulp.
    pick = mids[np.linspace(0, 254, 85).round().astype(int)]
    ties = np.concatenate([[1.0], pick, np.nextafter(pick, F32(2)), np.nextafter(pick, F32(-2))]).astype(F32)
    assert ties.size == 256
    # Block 1: all zero (absmax 0), with -0.0 mixed in for the signed map.
    zeros = np.zeros(256, F32)
    if signed:
        zeros[1::3] = -0.0
    # Block 2: Adam-like magnitudes over many decades, exact zeros, tiny values, denormals.
    g = (rng.standard_normal(256) * 1e-3).astype(F32)
    g *= (10.0 ** rng.uniform(-6, 0, 256)).astype(F32)
    g[rng.random(256) < 0.15] = 0.0
    g[3:9] = np.array([1e-12, -1e-12, 3e-39, -3e-39, 1e-7, -1e-7], F32)
    g[10] = -0.0
    # Block 3 (partial, 232): heavy tails (Student-t 2), one planted outlier.
    h = (rng.standard_t(2, N - 768) * 1e-5).astype(F32)
    h[57] = F32(-4e-3)
    x = np.concatenate([ties, zeros, g, h]).astype(F32)
    if not signed:
        # v is an EMA of squared gradients: non-negative; the tie block keeps its exact midpoints.
        x[256:] = np.abs(x[256:] * x[256:] * F32(1e3)).astype(F32)
        x[256 + 512 + 11] = F32(0.0)
    assert x.size == N
    return x


def write(out, name, arr):
    arr = np.ascontiguousarray(arr)
    if arr.dtype == np.float32:
        arr = arr.astype("<f4")
    with open(os.path.join(out, name), "wb") as f:
        f.write(arr.tobytes())
    return name


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    self_check()
    if "--check" in sys.argv[1:]:
        print("optimizer_state_8bit_reference self-check OK")
        return
    out = os.path.abspath(args[0] if args else DEFAULT_OUT)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    write(out, "dynamic_map_signed.f32", dynamic_map(True))
    write(out, "dynamic_map_unsigned.f32", dynamic_map(False))
    cases = []
    for signed in (True, False):
        name = "signed" if signed else "unsigned"
        x = golden_input(rng, signed)
        files = {"input": write(out, f"{name}.input.f32", x)}
        for bs in BLOCK_SIZES:
            c, a = quantize_state(x, signed, bs)
            y = dequantize_state(c, a, signed, bs)
            cases.append({
                "name": f"{name}_bs{bs}", "map": name, "n": N, "blocksize": bs, "blocks": int(a.size),
                "max_abs_error": float(np.abs(y - x).max()),
                "files": {"input": files["input"],
                          "codes": write(out, f"{name}.bs{bs}.codes.u8", c),
                          "absmax": write(out, f"{name}.bs{bs}.absmax.f32", a)},
            })
    manifest = {
        "about": "bitsandbytes blockwise 8-bit optimizer-state goldens (Adam8bit state1 = signed map, state2 = "
                 "unsigned map); algorithm and exact rules: Tools/reference/optimizer_state_8bit_reference.py "
                 "(SPEC), which also regenerates them. All .f32 are little-endian IEEE binary32.",
        "seed": SEED,
        "input_layout": "block 0 absmax 1.0 with 85 fp32 midpoints exactly and +-1 ulp; block 1 all zero "
                        "(signed: -0.0 mixed in); block 2 magnitudes over 6 decades with zeros, tiny and "
                        "denormal values; block 3 partial (232) Student-t(2). Unsigned: blocks 1-3 are "
                        "|x*x*1e3|, as v holds squares.",
        "dynamic_map_signed_file": "dynamic_map_signed.f32",
        "dynamic_map_unsigned_file": "dynamic_map_unsigned.f32",
        "cases": cases,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out, p)) for p in os.listdir(out))
    print(f"wrote {len(cases)} cases to {out} ({total} bytes)")


if __name__ == "__main__":
    main()
