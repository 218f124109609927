#!/usr/bin/env python3
"""Writes golden vectors for EdgeTune's NF4 + double-quantization code (bitsandbytes-exact).

Output: Tests/QuantizationTests/Fixtures/nf4/ (deterministic; re-record only on request)
  manifest.json                 every case, its parameters and files
  nf4_code.f32                  the 16 NF4 code values (fp32 LE)
  dynamic_map.f32               create_dynamic_map(signed=True), 256 fp32 LE
  per NF4 case <c>:
    <c>.input.f32               input, fp32 little-endian, row-major
    <c>.packed.u8               packed nibbles ((n+1)//2 bytes, element 2j in the HIGH nibble)
    <c>.absmax.f32              per-block absmax (fp32[nblocks])
    <c>.qabsmax.u8              double-quantized absmax (uint8[nblocks])
    <c>.nested_absmax.f32       fp32[ceil(nblocks/nested_blocksize)]
    <c>.offset.f32              the fp32 offset (4 bytes; also in the manifest as hex bits)
    <c>.dq_absmax.f32           reconstructed scales code8[q]*nested_absmax + offset
    <c>.dequant.f32             the dequantized tensor with DQ (what a QLoRA model computes with)
    <c>.quant_state.json        the bytes bnb stores in <name>.quant_state.bitsandbytes__nf4
  per 8-bit case <c> (bnb quantize_blockwise with the dynamic map, i.e. the nested quantizer):
    <c>.input.f32, <c>.q.u8, <c>.absmax.f32, <c>.dequant.f32

Algorithm: Tools/reference/nf4_reference.py (SPEC at its top).
Usage: /root/.cache/edgetune/venv/bin/python Tools/reference/make_nf4_goldens.py [output_dir]
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nf4_reference as R  # noqa: E402

F32 = np.float32
SEED = 20250117
DEFAULT_OUT = os.path.join(HERE, "..", "..", "Tests", "QuantizationTests", "Fixtures", "nf4")
MODEL = os.path.join(os.path.expanduser("~"), ".cache", "edgetune", "models",
                     "SmolLM2-135M-Instruct.Q4_1.gguf")
REAL_TENSOR = "blk.0.attn_k.weight"


def hexbits(v):
    return "0x%08x" % int(np.asarray(v, dtype=F32).reshape(()).view(np.uint32))


def nf4_scaled_code(x, a):
    """Codes the kernel rule gives for x in a block whose absmax is a (reciprocal multiply)."""
    inv = F32(1.0) / F32(a)
    return R._nf4_nibbles((np.asarray(x, F32) * inv).astype(F32))


def tie_case(rng):
    """16 blocks of 64 pinning thresholds, tie-breaking and reciprocal-multiply rounding."""
    t = R.nf4_thresholds()
    c = R.nf4_code()
    up = np.nextafter(t, F32(np.inf))
    dn = np.nextafter(t, F32(-np.inf))
    blocks = []
    # absmax 1: thresholds exactly, +-1 ulp, the codes themselves (incl. +-1), +0.0 and -0.0
    b = np.concatenate([t, up, dn, c, np.array([0.0, -0.0], F32)]).astype(F32)  # 63 values
    b = np.concatenate([b, np.array([0.5], F32)])
    blocks.append(b)
    # absmax 2 (inv = 0.5 exactly): same pattern scaled by 2
    blocks.append((b * F32(2.0)).astype(F32))
    # absmax 1 via a negative extreme (-1.0 present, +1.0 absent)
    nb = np.concatenate([-t, -up, -dn, -c[::-1][1:], np.array([0.0, -0.0, 0.125, -0.375, 0.0625], F32)])
    blocks.append(nb[:64].astype(F32))
    # non-power-of-two absmax: values around T[k]*a where x*(1/a) and x/a disagree or hit T[k]
    for a in [0.3, 0.7, 1.7, 0.037, 3.3, 0.011, 0.77, 5.1, 0.09, 1.3, 0.6, 2.9, 0.0123]:
        a = F32(a)
        inv = F32(1.0) / a
        interesting, onthr = [], []
        for k, tk in enumerate(t):
            base = F32(tk * a)
            cand = [base]
            for _ in range(4):
                cand.append(np.nextafter(cand[-1], F32(np.inf)))
            lo = [base]
            for _ in range(4):
                lo.append(np.nextafter(lo[-1], F32(-np.inf)))
            for x in cand + lo[1:]:
                x = F32(x)
                s_mul = F32(x * inv)
                s_div = F32(x / a)
                k_mul = int((s_mul > t).sum())
                k_div = int((s_div > t).sum())
                if k_mul != k_div:
                    interesting.append(x)
                elif s_mul == tk:
                    onthr.append(x)
        vals = [a] + interesting + onthr
        vals = list(dict.fromkeys([float(v) for v in vals]))  # de-dup, keep order
        if len(vals) < 64:
            fill = (rng.uniform(-1, 1, 64 - len(vals)) * float(a) * 0.99).astype(F32)
            vals += fill.tolist()
        blk = np.array(vals[:64], dtype=F32)
        blk[0] = a
        blocks.append(blk)
    arr = np.concatenate(blocks).astype(F32)
    assert arr.size == 16 * 64, arr.size
    return arr


def zeros_case(rng):
    x = (rng.standard_normal(1024) * 0.05).astype(F32)
    x[rng.random(1024) < 0.3] = 0.0
    x[0:64] = 0.0                     # block 0: all zero -> nibbles 0, decodes to -0.0
    x[64:128] = 0.0
    x[64 + 17] = -0.5                 # block 1: a single non-zero
    x[128:192:2] = -0.0               # block 2: negative zeros mixed in
    x[200] = 0.0
    return x


def real_slice():
    import gguf
    reader = gguf.GGUFReader(MODEL)
    for t in reader.tensors:
        if t.name == REAL_TENSOR:
            w = gguf.quants.dequantize(t.data, t.tensor_type)
            return np.ascontiguousarray(w[:8], dtype=F32), gguf.GGMLQuantizationType(t.tensor_type).name
    raise SystemExit(f"{REAL_TENSOR} not found in {MODEL}")


def blockwise8_ties(rng):
    d = R.dynamic_map_signed()
    mids = ((d[:-1] + d[1:]).astype(F32) * F32(0.5)).astype(F32)
    vals = np.concatenate([d, mids, np.nextafter(mids, F32(2)), np.nextafter(mids, F32(-2))]).astype(F32)
    groups = []
    for i in range(0, vals.size, 255):
        chunk = vals[i:i + 255]
        if chunk.size < 255:
            chunk = np.concatenate([chunk, rng.uniform(-0.99, 0.99, 255 - chunk.size).astype(F32)])
        groups.append(np.concatenate([np.array([1.0], F32), chunk]))
    groups.append(np.zeros(5, F32))   # partial all-zero group -> absmax 0 -> NaN path -> q 0
    return np.concatenate(groups).astype(F32)


def write(out, name, arr):
    arr = np.ascontiguousarray(arr)
    if arr.dtype == np.float32:
        arr = arr.astype("<f4")
    with open(os.path.join(out, name), "wb") as f:
        f.write(arr.tobytes())
    return name


def nf4_case(out, name, x, shape, desc, blocksize=64, nested_blocksize=256):
    x = np.asarray(x, dtype=F32).reshape(-1)
    n = x.size
    r = R.quantize_nf4_dq(x, blocksize, nested_blocksize)
    # cross-check the dequantizer used by Tools/check-nf4 on the serialized tensors
    tens = R.bnb_tensors("w", x.reshape(shape), shape, blocksize, nested_blocksize)
    again, state = R.dequantize_from_tensors(tens.__getitem__, "w")
    assert np.array_equal(again.reshape(-1).view(np.uint32), r["dequant"].view(np.uint32))
    js = R.quant_state_json(shape, blocksize, "float32", True, nested_blocksize, r["offset"])
    files = {
        "input": write(out, f"{name}.input.f32", x),
        "packed": write(out, f"{name}.packed.u8", r["packed"]),
        "absmax": write(out, f"{name}.absmax.f32", r["absmax"]),
        "qabsmax": write(out, f"{name}.qabsmax.u8", r["qabsmax"]),
        "nested_absmax": write(out, f"{name}.nested_absmax.f32", r["nested_absmax"]),
        "offset": write(out, f"{name}.offset.f32", np.array([r["offset"]], F32)),
        "dq_absmax": write(out, f"{name}.dq_absmax.f32", r["scale"]),
        "dequant": write(out, f"{name}.dequant.f32", r["dequant"]),
        "quant_state_json": write(out, f"{name}.quant_state.json", np.frombuffer(js.encode(), np.uint8)),
    }
    nblocks = r["absmax"].size
    err = np.abs(r["dequant"] - x)
    return {
        "name": name, "kind": "nf4_dq", "description": desc, "n": n, "shape": list(shape),
        "blocksize": blocksize, "nested_blocksize": nested_blocksize,
        "nblocks": nblocks, "nested_blocks": int(r["nested_absmax"].size),
        "packed_bytes": int(r["packed"].size),
        "padding_nibble": (int(r["packed"][-1] & 0x0F) if n % 2 else None),
        "offset": float(r["offset"]), "offset_bits": hexbits(r["offset"]),
        "max_abs_error": float(err.max()),
        "files": files,
    }


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
    os.makedirs(out, exist_ok=True)
    R.self_check()
    rng = np.random.default_rng(SEED)
    cases = []
    write(out, "nf4_code.f32", R.nf4_code())
    write(out, "dynamic_map.f32", R.dynamic_map_signed())

    x = (rng.standard_normal(1024) * 0.02).astype(F32)
    cases.append(nf4_case(out, "normal_1024", x, (16, 64), "N(0, 0.02^2), 16 full blocks, one partial nested group"))

    # heavy tails: Student-t(2) plus planted outliers; 257 blocks -> 2 nested groups (256 + 1)
    x = (rng.standard_t(2, 64 * 257) * 0.01).astype(F32)
    x[rng.integers(0, x.size, 12)] *= F32(40.0)
    cases.append(nf4_case(out, "heavy_tailed_16448", x, (257, 64),
                          "Student-t(2)*0.01 with planted outliers; 257 blocks -> 2 nested groups, "
                          "the last group has one block (s = +-1)"))

    cases.append(nf4_case(out, "zeros_1024", zeros_case(rng), (1024,),
                          "30% exact zeros, block 0 all zero (NaN path -> nibble 0, -0.0), "
                          "block 1 a single non-zero, block 2 with -0.0"))

    cases.append(nf4_case(out, "ties_1024", tie_case(rng), (16, 64),
                          "values exactly on / 1 ulp around every dQuantizeNF4 threshold (absmax 1, 2, "
                          "and -1), plus non-power-of-two absmax blocks where x*(1/absmax) and x/absmax "
                          "pick different codes or hit a threshold exactly"))

    x = (rng.standard_normal(1000) * 0.03).astype(F32)
    cases.append(nf4_case(out, "len_1000", x, (1000,), "15 full blocks + partial block of 40"))

    x = (rng.standard_normal(1001) * 0.03).astype(F32)
    cases.append(nf4_case(out, "len_1001_odd", x, (7, 143),
                          "odd length: last byte's low nibble is the 0.0 padding element (7)"))

    cases.append(nf4_case(out, "single", np.array([-0.0371], F32), (1, 1),
                          "one element: absmax = offset, centered 0 -> NaN path -> q 0, "
                          "scale = code8[0]*0 + offset = offset"))

    x = (rng.standard_normal(2125) * 0.05).astype(F32)
    cases.append(nf4_case(out, "bs128_nested512_2125", x, (2125,),
                          "blocksize 128, nested blocksize 512 (parameters bnb itself never uses for "
                          "nested; it hard-codes 256), odd length with a partial block",
                          blocksize=128, nested_blocksize=512))

    w, qt = real_slice()
    cases.append(nf4_case(out, "real_attn_k_rows0_7", w, w.shape,
                          f"first 8 rows of {REAL_TENSOR} from SmolLM2-135M-Instruct.{qt}.gguf, "
                          "dequantized with gguf-py 0.19.0"))

    # the nested 8-bit quantizer on its own (code8 ties)
    x = blockwise8_ties(rng)
    q, am = R.quantize_blockwise_8bit(x, 256)
    dq = R.dequantize_blockwise_8bit(q, am, 256)
    cases.append({
        "name": "blockwise8_ties", "kind": "blockwise8", "n": int(x.size), "blocksize": 256,
        "description": "bnb quantize_blockwise with the signed dynamic map: every code, every fp32 "
                       "midpoint (ties -> even index) and +-1 ulp; 1.0 leads each group so s = x; "
                       "a final partial all-zero group (absmax 0 -> q 0)",
        "files": {
            "input": write(out, "blockwise8_ties.input.f32", x),
            "q": write(out, "blockwise8_ties.q.u8", q),
            "absmax": write(out, "blockwise8_ties.absmax.f32", am),
            "dequant": write(out, "blockwise8_ties.dequant.f32", dq),
        },
    })

    manifest = {
        "about": "bitsandbytes NF4 + double-quantization goldens; algorithm and exact rules: "
                 "Tools/reference/nf4_reference.py (SPEC). Regenerate: "
                 "Tools/reference/make_nf4_goldens.py. All .f32 are little-endian IEEE binary32.",
        "seed": SEED,
        "nf4_code_file": "nf4_code.f32",
        "dynamic_map_file": "dynamic_map.f32",
        "nf4_code_bits": [hexbits(v) for v in R.nf4_code()],
        "nf4_threshold_bits": [hexbits(v) for v in R.nf4_thresholds()],
        "cases": cases,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out, p)) for p in os.listdir(out))
    print(f"wrote {len(cases)} cases to {out} ({total} bytes)")


if __name__ == "__main__":
    main()
