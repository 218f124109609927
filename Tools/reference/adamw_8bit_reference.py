#!/usr/bin/env python3
"""Independent numpy reference of AdamW over bitsandbytes' blockwise 8-bit state (AdamW8bit, block 256), and the
writer of EdgeTune's golden files for QuantizedOptimizerState + AdamW.

Written from a reading of bitsandbytes' and torch's source (no code copied); numpy only, no torch/bnb. The
quantizer itself is not repeated here: it is optimizer_state_8bit_reference.py (its SPEC pins the rounding).

================================================================================================
SPEC  (every element operation is IEEE-754 binary32, round to nearest even, no FMA contraction;
       numpy keeps float32 because every operand is a float32 array or np.float32 scalar)
================================================================================================
References:
  T = torch/optim/adamw.py (_single_tensor_adamw, foreach=False, amsgrad=False)
  O = bitsandbytes/optim/optimizer.py Optimizer2State (min_8bit_size 4096, block_wise, blocksize 256)
  K = bitsandbytes csrc kOptimizer8bit2StateBlockwise (dequantize, update, requantize per block)
  S = Tools/reference/optimizer_state_8bit_reference.py (quantize_state / dequantize_state, its SPEC)

1. Each trainable tensor is independent (O keeps state per parameter). A tensor of fewer than 4096
   elements keeps fp32 m and v (O: min_8bit_size), i.e. it is plain torch AdamW.
2. A tensor of >= 4096 elements stores m as codes on the signed dynamic map and v on the unsigned one
   (S), in blocks of 256 consecutive elements counted from the tensor's first element, one fp32 absmax
   per block; a last partial block's absmax is over its real elements only. Initial state: all zero.
3. Step t = 1, 2, ... with learning rate lr (one step counter for all tensors). Constants in double,
   each rounded to fp32 once (as AdamW.swift does; torch computes them in Python floats too):
     decay = f32(1 - lr*wd)  b1 = f32(beta1)  omb1 = f32(1 - beta1)  b2 = f32(beta2)  omb2 = f32(1 - beta2)
     step_size = f32(lr / (1 - beta1**t))  bc2_sqrt = f32(sqrt(1 - beta2**t))  eps = f32(epsilon)
   Per element, in this order (T's order):
     m_in, v_in = the stored moments: fp32, or for 8-bit tensors map[code] * absmax (S section 4)
     m = b1*m_in + omb1*g;  v = b2*v_in + omb2*(g*g)
     denom = sqrt(v) / bc2_sqrt + eps
     p = p*decay - step_size*m / denom          (decay applied to the value before the update)
   then an 8-bit tensor stores quantize(m) on the signed map and quantize(v) on the unsigned map, with
   fresh absmax per block (K requantizes after every update).
4. A checkpoint (AdamW.save) holds the dequantized fp32 moments; loading them into fresh 8-bit state
   quantizes them again: roundtrip(x) = dequantize(quantize(x)). Not the identity: the signed map's most
   negative value is -0.99296875, not -1, so in an m block whose largest magnitude is negative that
   element decodes to -0.99296875 * absmax, quantizing again takes absmax' = 0.99296875 * absmax, and the
   block moves (its largest element shrinks by 0.7 %, the others may move one code). A block whose
   largest magnitude was positive holds code 255 = +1.0, decodes it to exactly absmax, and comes back bit
   for bit; in dequantized terms: exact iff max(m) > -min(m) over the block (or the block is all zero).
   v (unsigned map, 1.0 is code 255, v >= 0) always comes back bit for bit.
================================================================================================

Inputs (reproduced bit for bit in Tests/TrainingTests/OptimQuantizedStateTests.swift, so nothing but the
expected outputs is stored):
  mix(x) = lowbias32 (x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16, mod 2**32)
  hash(key, i) = mix(i + key * 0x9e3779b9 mod 2**32)
  unit(h) = (int(h & 0xfffff) - 0x80000) * 2**-19          exact in fp32, in [-1, 1)
  initial value of tensor k, element i:  unit(hash(1000 k + 1, i)) * 2**-3
  gradient at step s (1-based):  h = hash(1000 k + 10 + s, i)
      0 if (h >> 23) & 15 == 0  (one in 16), or if k == 2, s == 1 and i // 256 == 3 (an all-zero block: absmax 0)
      else unit(h) * 2**-(6 + ((h >> 20) & 7) + (3 (i // 256) + 5 s) % 13)
  Every input is an exact fp32 (at most 20 significant bits times a power of two), so both sides start equal.

Goldens: Tests/TrainingTests/Fixtures/adamw_8bit/ (deterministic; re-record only on request)
  manifest.json   hyperparameters, tensors, and CRC-32s (zlib's, as "crc32:xxxxxxxx", of the little-endian
                  bytes over a tensor's real elements) of: initial values, each step's gradients and
                  parameters, the final m and v (dequantized), the final m and v codes (8-bit tensors), and the
                  checkpoint round trip of m and v
  params.f32      for step 1..4, for each tensor: the parameters at the sample indices
  moments.f32     for each tensor: m then v after the last step (dequantized) at the sample indices
  roundtrip.f32   for each tensor: m then v after dequantize -> quantize -> dequantize, at the sample indices
  absmax.f32      for each 8-bit tensor: m's absmax (blocks) then v's
  Sample indices: i % 16 == 0, or i in the tensor's last 256-element block (all of a small tensor).
Usage: /root/.cache/edgetune/venv/bin/python Tools/reference/adamw_8bit_reference.py [output_dir]
       ... --check   (self-check only, writes nothing)
"""
import json
import math
import os
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import optimizer_state_8bit_reference as S  # noqa: E402

F32 = np.float32
U32 = np.uint32
BLOCK = 256
MIN_8BIT = 4096
DEFAULT_OUT = os.path.join(HERE, "..", "..", "Tests", "TrainingTests", "Fixtures", "adamw_8bit")

TENSORS = [("small", [7, 19]), ("partial", [33, 130]), ("threshold", [16, 256])]
HYPER = {"lr": 1e-2, "weight_decay": 0.05, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
STEPS = 4


# ---------------------------------------------------------------------------------------------- inputs

def mix(x):
    """lowbias32 on uint32 arrays (numpy's uint32 array arithmetic wraps mod 2**32)."""
    x = np.asarray(x, dtype=U32)
    x = x ^ (x >> U32(16))
    x = x * U32(0x7FEB352D)
    x = x ^ (x >> U32(15))
    x = x * U32(0x846CA68B)
    return x ^ (x >> U32(16))


def hashes(key, n):
    return mix(np.arange(n, dtype=U32) + U32((key * 0x9E3779B9) & 0xFFFFFFFF))


def unit(h):
    """(h & 0xfffff) - 0x80000 scaled by 2**-19: exact fp32 in [-1, 1)."""
    return ((h & U32(0xFFFFF)).astype(np.int64) - 0x80000).astype(F32) * F32(2.0 ** -19)


def initial_values(k, n):
    return (unit(hashes(1000 * k + 1, n)) * F32(2.0 ** -3)).astype(F32)


def gradient(k, step, n):
    h = hashes(1000 * k + 10 + step, n)
    block = np.arange(n) // BLOCK
    exponent = 6 + ((h >> U32(20)) & U32(7)).astype(np.int64) + (3 * block + 5 * step) % 13
    g = (unit(h) * np.ldexp(F32(1.0), -exponent).astype(F32)).astype(F32)
    g[((h >> U32(23)) & U32(15)) == 0] = F32(0.0)
    if k == 2 and step == 1:
        g[3 * BLOCK:4 * BLOCK] = F32(0.0)
    assert g.dtype == F32
    return g


# ---------------------------------------------------------------------------------------------- AdamW

def constants(t, lr=HYPER["lr"], wd=HYPER["weight_decay"], beta1=HYPER["beta1"], beta2=HYPER["beta2"],
              eps=HYPER["epsilon"]):
    """SPEC 3: double arithmetic (glibc pow, as Swift's), each constant rounded to fp32 once."""
    return {
        "decay": F32(1 - lr * wd), "b1": F32(beta1), "omb1": F32(1 - beta1), "b2": F32(beta2),
        "omb2": F32(1 - beta2), "step_size": F32(lr / (1 - math.pow(beta1, t))),
        "bc2_sqrt": F32(math.sqrt(1 - math.pow(beta2, t))), "eps": F32(eps),
    }


def adamw_update(p, g, m, v, c):
    """SPEC 3's element math, fp32 throughout. Returns new (p, m, v)."""
    m = c["b1"] * m + c["omb1"] * g
    v = c["b2"] * v + c["omb2"] * (g * g)
    denom = np.sqrt(v) / c["bc2_sqrt"] + c["eps"]
    p = p * c["decay"] - c["step_size"] * m / denom
    for x in (m, v, denom, p):
        assert x.dtype == F32, x.dtype
    return p, m, v


class TensorState:
    """One tensor's moments: fp32 (small) or codes + absmax per moment (8-bit)."""

    def __init__(self, n):
        self.n = n
        self.quantized = n >= MIN_8BIT
        if self.quantized:
            blocks = -(-n // BLOCK)
            self.m_codes, self.m_absmax = np.full(n, 127, np.uint8), np.zeros(blocks, F32)
            self.v_codes, self.v_absmax = np.zeros(n, np.uint8), np.zeros(blocks, F32)
        else:
            self.m, self.v = np.zeros(n, F32), np.zeros(n, F32)

    def moments(self):
        """The fp32 moments the update reads (dequantized for 8-bit state)."""
        if not self.quantized:
            return self.m.copy(), self.v.copy()
        return (S.dequantize_state(self.m_codes, self.m_absmax, True, BLOCK),
                S.dequantize_state(self.v_codes, self.v_absmax, False, BLOCK))

    def store(self, m, v):
        if not self.quantized:
            self.m, self.v = m.astype(F32), v.astype(F32)
            return
        self.m_codes, self.m_absmax = S.quantize_state(m, True, BLOCK)
        self.v_codes, self.v_absmax = S.quantize_state(v, False, BLOCK)


def run():
    """Steps every tensor STEPS times. Returns per-tensor records of everything the goldens hold."""
    records = []
    for k, (name, shape) in enumerate(TENSORS):
        n = int(np.prod(shape))
        p = initial_values(k, n)
        state = TensorState(n)
        record = {"name": name, "shape": shape, "n": n, "quantized": state.quantized,
                  "initial": p.copy(), "gradients": [], "params": []}
        for t in range(1, STEPS + 1):
            g = gradient(k, t, n)
            m, v = state.moments()
            p, m, v = adamw_update(p, g, m, v, constants(t))
            state.store(m, v)
            if t == 1 and state.quantized:
                record["m_absmax_step1"] = state.m_absmax.copy()
            record["gradients"].append(g)
            record["params"].append(p.copy())
        record["state"] = state
        record["m"], record["v"] = state.moments()
        # SPEC 4: what a checkpoint save then load gives back.
        again = TensorState(n)
        again.store(record["m"], record["v"])
        record["roundtrip_m"], record["roundtrip_v"] = again.moments()
        records.append(record)
    return records


# ---------------------------------------------------------------------------------------------- checks

def self_check(records):
    """Facts the SPEC and the tests rely on."""
    S.self_check()
    # The update is torch's AdamW: with fp32 state it matches a float64 evaluation to fp32 rounding.
    rng = np.random.default_rng(1)
    p, g = rng.standard_normal(1000).astype(F32), rng.standard_normal(1000).astype(F32)
    m, v = np.zeros(1000, F32), np.zeros(1000, F32)
    p64, m64, v64 = p.astype(np.float64), np.zeros(1000), np.zeros(1000)
    for t in range(1, 4):
        p, m, v = adamw_update(p, g, m, v, constants(t))
        h = HYPER
        p64 = p64 * (1 - h["lr"] * h["weight_decay"])
        m64 = h["beta1"] * m64 + (1 - h["beta1"]) * g
        v64 = h["beta2"] * v64 + (1 - h["beta2"]) * g.astype(np.float64) ** 2
        denom = np.sqrt(v64) / math.sqrt(1 - h["beta2"] ** t) + h["epsilon"]
        p64 = p64 - h["lr"] / (1 - h["beta1"] ** t) * m64 / denom
    assert np.max(np.abs(p - p64)) < 1e-6, np.max(np.abs(p - p64))
    # Inputs are exact fp32 of at most 20 significant bits, with exact zeros.
    for rec in records:
        for g in rec["gradients"]:
            assert np.all(np.isfinite(g)) and np.any(g == 0) and np.all(g.astype(np.float64) == g)
    big = [r for r in records if r["quantized"]]
    # Tensor 2's block 3 has no gradient at step 1: its state is an all-zero block (absmax 0) for one step.
    assert records[2]["m_absmax_step1"][3] == 0 and np.all(records[2]["m_absmax_step1"][:3] > 0)
    assert any(r["n"] % BLOCK for r in big), "one 8-bit tensor must end in a partial block"
    assert any(r["n"] == MIN_8BIT for r in big) and not any(r["quantized"] for r in records if r["n"] < MIN_8BIT)
    # 8-bit state really differs from fp32 state (the goldens would not test quantization otherwise).
    for rec in big:
        p, m, v = rec["initial"].copy(), np.zeros(rec["n"], F32), np.zeros(rec["n"], F32)
        for t, g in enumerate(rec["gradients"], 1):
            p, m, v = adamw_update(p, g, m, v, constants(t))
        assert not np.array_equal(p, rec["params"][-1]), rec["name"]
        # Most elements stay close; a few jump by about lr * m / eps: their v fell below the unsigned map's smallest
        # code (v / absmax < ~1.6e-7) while m did not, and a later zero gradient leaves denom = eps. bnb's kernel
        # does the same (it too starts each update from the dequantized state); the goldens keep them on purpose.
        assert np.median(np.abs(p - rec["params"][-1])) < 1e-3, "8-bit AdamW strays too far from fp32 AdamW"
    # SPEC 4: v comes back bit for bit, and so does an m block holding +absmax (code 255). Without code 255 the
    # block's largest magnitude was negative (code 0, -0.99296875 absmax), possibly tied by a code-254 element,
    # and the block moves by at most one quantization step.
    for rec in big:
        assert np.array_equal(rec["roundtrip_v"].view(U32), rec["v"].view(U32))
        m, back = rec["m"], rec["roundtrip_m"]
        negative = 0
        for b in range(-(-rec["n"] // BLOCK)):
            blk, out = m[b * BLOCK:(b + 1) * BLOCK], back[b * BLOCK:(b + 1) * BLOCK]
            if blk.max() > -blk.min() or np.all(blk == 0):
                assert np.array_equal(out.view(U32), blk.view(U32)), (rec["name"], b)
            else:
                negative += 1
                assert not np.array_equal(out, blk) and np.max(np.abs(out)) <= np.max(np.abs(blk))
                assert np.all(np.abs(out - blk) <= (S.ERROR_BOUND["signed"] + 1e-6) * np.max(np.abs(blk)))
        assert negative > 0, "the goldens must hold a block whose largest m is negative"
    return True


# ---------------------------------------------------------------------------------------------- goldens

def crc(a):
    return "crc32:%08x" % (zlib.crc32(np.ascontiguousarray(a).tobytes()) & 0xFFFFFFFF)


def sample_indices(n):
    """Every 16th element and the whole last 256-element block (all of a tensor under 256 elements)."""
    i = np.arange(n)
    return i[(i % 16 == 0) | (i >= (n - 1) // BLOCK * BLOCK)]


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    records = run()
    self_check(records)
    if "--check" in sys.argv[1:]:
        print("adamw_8bit_reference self-check OK")
        return
    out = os.path.abspath(args[0] if args else DEFAULT_OUT)
    os.makedirs(out, exist_ok=True)
    params, moments, roundtrip, absmax = [], [], [], []
    tensors = []
    for rec in records:
        idx = sample_indices(rec["n"])
        for p in rec["params"]:
            params.append((rec["name"], p[idx]))
        moments += [rec["m"][idx], rec["v"][idx]]
        roundtrip += [rec["roundtrip_m"][idx], rec["roundtrip_v"][idx]]
        entry = {
            "name": rec["name"], "shape": rec["shape"], "count": rec["n"], "quantized": rec["quantized"],
            "samples": int(idx.size),
            "crc": {
                "initial": crc(rec["initial"]), "gradients": [crc(g) for g in rec["gradients"]],
                "params": [crc(p) for p in rec["params"]], "m": crc(rec["m"]), "v": crc(rec["v"]),
                "roundtrip_m": crc(rec["roundtrip_m"]), "roundtrip_v": crc(rec["roundtrip_v"]),
            },
            "roundtrip_changed_m": int(np.count_nonzero(rec["roundtrip_m"].view(U32) != rec["m"].view(U32))),
        }
        if rec["quantized"]:
            st = rec["state"]
            entry["blocks"] = int(st.m_absmax.size)
            entry["crc"]["m_codes"] = crc(st.m_codes)
            entry["crc"]["v_codes"] = crc(st.v_codes)
            absmax += [st.m_absmax, st.v_absmax]
        tensors.append(entry)
    # params.f32 is step-major: step 1 of every tensor, then step 2, ... (params is tensor-major).
    by_step = [params[k * STEPS + t][1] for t in range(STEPS) for k in range(len(records))]
    files = {
        "params": S.write(out, "params.f32", np.concatenate(by_step).astype(F32)),
        "moments": S.write(out, "moments.f32", np.concatenate(moments).astype(F32)),
        "roundtrip": S.write(out, "roundtrip.f32", np.concatenate(roundtrip).astype(F32)),
        "absmax": S.write(out, "absmax.f32", np.concatenate(absmax).astype(F32)),
    }
    manifest = {
        "about": "AdamW over bitsandbytes-style blockwise 8-bit state (m signed map, v unsigned map, blocks of "
                 "256 per tensor, tensors under 4096 elements in fp32), torch AdamW arithmetic; algorithm, inputs "
                 "and file layout: Tools/reference/adamw_8bit_reference.py (SPEC), which also regenerates them. "
                 "All .f32 are little-endian IEEE binary32; CRC-32s are zlib's over little-endian bytes.",
        "hyperparameters": HYPER, "steps": STEPS, "block_size": BLOCK, "min_8bit_size": MIN_8BIT,
        "samples": "i % 16 == 0 or i >= (count - 1) / 256 * 256",
        "tensors": tensors, "files": files,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out, p)) for p in os.listdir(out))
    print(f"wrote {len(tensors)} tensors x {STEPS} steps to {out} ({total} bytes)")


if __name__ == "__main__":
    main()
