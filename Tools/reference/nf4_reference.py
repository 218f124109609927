#!/usr/bin/env python3
"""Independent numpy reference of bitsandbytes' NF4 + double quantization (QLoRA).

Written from a reading of bitsandbytes' source (no code copied); numpy only, no torch/bnb.

================================================================================================
SPEC  (what EdgeTune's Swift NF4 code implements; every arithmetic step is IEEE-754 binary32
       with round-to-nearest-even unless a step says otherwise; no FMA contraction anywhere)
================================================================================================
References (bitsandbytes-foundation/bitsandbytes):
  F  = bitsandbytes/functional.py: get_4bit_type, create_dynamic_map, quantize_4bit,
       quantize_blockwise, dequantize_blockwise, dequantize_4bit, QuantState.as_dict/from_dict
  U  = bitsandbytes/utils.py: pack_dict_to_tensor / unpack_tensor_to_dict (JSON <-> uint8)
  K  = csrc/kernels.cu (now csrc/cuda/blockwise_quantization.cu): kQuantizeBlockwise,
       dQuantizeNF4, dQuantize<0>, kDequantizeBlockwise
  D  = bitsandbytes/backends/default/ops.py: pure-torch quantize_4bit / quantize_blockwise
  M  = bitsandbytes/nn/modules.py: Linear4bit._save_to_state_dict (prefix + "weight." + key)

1. NF4 code (F get_4bit_type("nf4"); fp32; index = 4-bit nibble value):
     [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
      -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
      0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
      0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0]
   (each decimal literal rounded to the nearest fp32; the /= abs().max() in F is a no-op.)

2. NF4 quantization of a tensor x (F quantize_4bit -> K kQuantizeBlockwise<..., NF4>):
   - Flatten x in row-major order, n = numel. Blocks of B = blocksize consecutive elements
     (B in {64,128,...,4096}; default 64); nblocks = ceil(n / B); the last block may be partial.
   - absmax[b] = max |x[i]| over the VALID elements of block b (fp32, exact).
   - inv = 1.0f / absmax[b]   (fp32 division, correctly rounded; absmax 0 -> +inf)
   - s = x[i] * inv           (fp32 multiply by the reciprocal -- NOT x / absmax)
   - nibble = number of thresholds T[k] with s > T[k] (strict), i.e. the dQuantizeNF4 tree:
       T = fp32 literals, ascending (K dQuantizeNF4):
         -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
         -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
          0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
          0.5016634166240692, 0.6427869200706482, 0.8614784181118011
     They are the midpoints of adjacent codes (computed in double, rounded to fp32; each equals
     fp32((c[k]+c[k+1])*0.5f) bit for bit -- checked in self_check()).
     TIE-BREAKING: s exactly equal to T[k] gets the LOWER code k (comparison is strict '>').
     9 of the 15 real midpoints are not representable in fp32, so for exactly one fp32 value
     near each of those the threshold rule differs from an exact-arithmetic argmin; implement
     the threshold comparison, not argmin |s - c|.
     NaN (only from 0 * inf, i.e. an all-zero block) compares false everywhere -> nibble 0.
     So an all-zero block encodes every element as nibble 0. Without DQ it decodes to
     -1.0 * 0 = -0.0; WITH DQ its reconstructed scale is generally not 0 (it can even be
     negative), so it decodes to -scale != 0 -- bnb behaviour, pinned by golden zeros_1024.
   - Packing: element 2j -> HIGH nibble, element 2j+1 -> LOW nibble of byte j.
     Packed length = (n + 1) // 2 bytes. For odd n the low nibble of the last byte encodes a
     padding element of value 0.0 that belongs to the last block: nibble = 7 (code 0.0), or 0 if
     that block's absmax is 0 (0 * inf = NaN). (K loads out-of-range items as 0.0f; D pads the
     scaled vector with 0.0 -> argmin -> 7.) Readers must ignore it.
   - Inputs must be finite (the kernel's fmaxf would silently skip NaN; EdgeTune rejects NaN/inf).

3. NF4 dequantization (K kDequantizeBlockwise NF4 / D _dequantize_4bit_impl):
     y[i] = code4[nibble(i)] * scale[i // B]     (one fp32 multiply)
   with nibble(i) = packed[i//2] >> 4 if i even else packed[i//2] & 0xF, and scale = absmax
   (plain) or the double-quant reconstruction of section 5.

4. Dynamic 8-bit map code8 (F create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)):
   for i in 0..6: m = 2**i + 1 boundaries of linspace(0.1, 1.0, m) in fp32,
   means = (b[:-1] + b[1:]) / 2 (fp32), values = fp32(10**(i-6)) * means (fp32) and their
   negations; plus 0.0 and 1.0; sorted ascending -> 256 fp32 values, code8[0] = -0.99296873807907,
   code8[127] = 0.0, code8[255] = 1.0 (code8[254] = +0.99296873807907). The exact fp32 bits depend
   on torch's CPU linspace; dynamic_map_signed() reproduces bit-for-bit the table commonly dumped
   from bitsandbytes (fp32 step = (1.0f-0.1f)/(m-1); b[j] = fp32(double(0.1f) + j*double(step))
   for j < m//2, else fp32(1.0 - (m-1-j)*double(step))). Other torch builds differ in the last ulp
   of a few dozen entries, and bnb's CPU kernel (csrc/cpu_ops.cpp quantize_cpu) overwrites
   code8[0] with -1.0 in place, so files written on CPU may store that. Hence a reader must ALWAYS
   dequantize with the stored `nested_quant_map` (and `quant_map`), never a built-in table.

5. Double quantization of absmax (F quantize_4bit with compress_statistics=True):
   - offset = mean(absmax): the fp32 result of (sum of all absmax in float64) / nblocks, rounded
     once to fp32. (torch's fp32 mean reduction order is unspecified; this is EdgeTune's pinned
     choice -- it can differ from a particular torch run by an ulp, which is harmless because the
     offset is stored.)
   - c[b] = absmax[b] - offset                                  (fp32 subtract)
   - 8-bit blockwise quantization of c with code8 and nested blocksize NB (bnb always uses 256;
     F quantize_blockwise -> K kQuantizeBlockwise<..., General8bit>):
       nested_absmax[g] = max |c[b]| over valid b in group g = b // NB   (ceil(nblocks/NB) groups)
       ninv = 1.0f / nested_absmax[g];  s = c[b] * ninv                (fp32)
       q[b] = dQuantize(s) -- K's binary search, literally:
           pivot=127; upper_pivot=255; lower_pivot=0; lower=-1.0f; upper=1.0f; val=code8[127]
           for step in 64,32,16,8,4,2,1:
               if s > val: lower_pivot=pivot; lower=val; pivot+=step
               else:       upper_pivot=pivot; upper=val; pivot-=step
               val = code8[pivot]
           if upper_pivot == 255: upper = code8[255]
           if lower_pivot == 0:   lower = code8[0]
           if s > val:  mid = (upper + val) * 0.5f; return upper_pivot if s > mid else pivot
           else:        mid = (lower + val) * 0.5f; return lower_pivot if s < mid else pivot
       Equivalent rule (verified in self_check): nearest code by comparison with the fp32 midpoint
       (code8[k]+code8[k+1])*0.5f; at an EXACT tie the result is the EVEN index (the final pivot
       is always even). s = NaN (group of identical absmax -> 0*inf) -> q = 0.
   - Stored: qabsmax (uint8[nblocks]), nested_absmax (fp32[ceil(nblocks/NB)]), offset (fp32).
   - Reconstruction (F dequantize_4bit: dequantize_blockwise(...) then `absmax += offset`):
       scale[b] = (code8[q[b]] * nested_absmax[b // NB]) + offset
     as TWO separately rounded fp32 operations (multiply, then add); do not use an FMA.

6. Serialization (M + F QuantState.as_dict(packed=True) + U), per quantized Linear weight
   `<name>` (e.g. model.layers.0.self_attn.q_proj.weight):
     <name>                                    uint8 [(n+1)//2, 1]   packed nibbles (section 2)
     <name>.absmax                             uint8 [nblocks]        (fp32 [nblocks] if not nested)
     <name>.quant_map                          fp32  [16]             code4
     <name>.nested_absmax                      fp32  [ceil(nblocks/NB)]   (nested only)
     <name>.nested_quant_map                   fp32  [256]            code8 (nested only)
     <name>.quant_state.bitsandbytes__nf4      uint8 [len]            UTF-8 JSON bytes, produced by
         Python json.dumps (separators ", " and ": ", insertion order), keys in this order:
         {"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [out, in],
          "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": <float>}
       - dtype: original weight dtype, str(torch.dtype).strip("torch.") -> "float32" /
         "bfloat16" / "float16"; nested_dtype is the absmax dtype, always "float32".
       - shape: the original (unflattened) shape as a JSON list.
       - nested_offset: the fp32 offset widened to double, printed as the shortest repr that
         round-trips that double (Python repr; e.g. fp32 0.0123 -> "0.012299999594688416").
       - EdgeTune pads the JSON with trailing spaces after the closing brace so its byte length is fixed
         before the offset is known (the header is planned first); json.loads and bnb accept it.
       - nested_* keys are present iff double quantization is used. bnb's loader
         (QuantState.from_dict) keys off the ".quant_state.bitsandbytes__nf4" suffix, strips
         prefixes, and requires every key to be in its valid set.
   Storage per quantized weight (64/256): 4 + 8/64 + 32/(64*256) = 4.1270 bits
   (+ per-tensor constants: 64 B quant_map, 1 KiB nested_quant_map, 4 B offset, the JSON).
================================================================================================
"""
import json

import numpy as np

F32 = np.float32

_NF4_LITERALS = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)

# dQuantizeNF4's comparison constants, ascending (fp32 literals in the CUDA/C++ source).
_NF4_THRESHOLD_LITERALS = (
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
    -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
    0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
    0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
)

QUANT_STATE_SUFFIX = ".quant_state.bitsandbytes__nf4"


def nf4_code():
    """The 16 fp32 NF4 code values (index = nibble)."""
    return np.array(_NF4_LITERALS, dtype=F32)


def nf4_thresholds():
    """The 15 fp32 decision thresholds of dQuantizeNF4, ascending."""
    return np.array(_NF4_THRESHOLD_LITERALS, dtype=F32)


def _linspace_f32_bnb(start, end, steps):
    """torch.linspace(start, end, steps) in fp32 as it produced bnb's published dynamic map."""
    s, e = F32(start), F32(end)
    step = F32((e - s) / F32(steps - 1))
    half = steps // 2
    out = np.empty(steps, dtype=F32)
    for j in range(steps):
        if j < half:
            out[j] = F32(float(s) + j * float(step))
        else:
            out[j] = F32(float(e) - (steps - 1 - j) * float(step))
    return out


def dynamic_map_signed():
    """create_dynamic_map(signed=True): 256 sorted fp32 values (see SPEC section 4)."""
    data = []
    max_exponent_bits = 7
    for i in range(max_exponent_bits):
        items = 2 ** i + 1
        b = _linspace_f32_bnb(0.1, 1.0, items)
        means = ((b[:-1] + b[1:]) / F32(2.0)).astype(F32)
        scale = F32(10.0 ** (i - (max_exponent_bits - 1)))
        vals = (scale * means).astype(F32)
        data.extend(vals.tolist())
        data.extend((-vals).tolist())
    data.append(0.0)
    data.append(1.0)
    assert len(data) == 256
    data.sort()
    return np.array(data, dtype=F32)


def _nf4_nibbles(scaled):
    """Strict '>' count against the thresholds == dQuantizeNF4's tree. NaN -> 0."""
    scaled = np.asarray(scaled, dtype=F32).reshape(-1)
    # searchsorted(side="left") = number of thresholds strictly below s; NaN would sort last.
    nib = np.searchsorted(nf4_thresholds(), scaled, side="left").astype(np.uint8)
    nib[np.isnan(scaled)] = 0
    return nib


def _blockwise_absmax_and_scaled(x, blocksize):
    """(absmax fp32[nblocks], scaled fp32[nblocks*blocksize]) with 0.0 padding past n."""
    x = np.ascontiguousarray(x, dtype=F32).reshape(-1)
    n = x.size
    nblocks = -(-n // blocksize)
    padded = np.zeros(nblocks * blocksize, dtype=F32)
    padded[:n] = x
    blocks = padded.reshape(nblocks, blocksize)
    absmax = np.abs(blocks).max(axis=1).astype(F32)  # padding zeros cannot raise the max
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv = (F32(1.0) / absmax).astype(F32)
        scaled = (blocks * inv[:, None]).astype(F32).reshape(-1)
    return absmax, scaled


def quantize_nf4(x, blocksize=64):
    """-> (packed uint8[(n+1)//2], absmax fp32[ceil(n/blocksize)])."""
    x = np.asarray(x, dtype=F32).reshape(-1)
    if x.size == 0:
        raise ValueError("empty tensor")
    if not np.all(np.isfinite(x)):
        raise ValueError("non-finite input")
    n = x.size
    absmax, scaled = _blockwise_absmax_and_scaled(x, blocksize)
    nib = _nf4_nibbles(scaled)[: n + (n & 1)]  # keep the padding element for odd n
    packed = ((nib[0::2] << 4) | nib[1::2]).astype(np.uint8)
    return packed, absmax


def unpack_nibbles(packed, n):
    packed = np.asarray(packed, dtype=np.uint8).reshape(-1)
    nib = np.empty(packed.size * 2, dtype=np.uint8)
    nib[0::2] = packed >> 4
    nib[1::2] = packed & 0x0F
    return nib[:n]


def dequantize_nf4(packed, scale, n, blocksize=64, code=None):
    """y[i] = code[nibble(i)] * scale[i // blocksize] (fp32). `scale` = absmax or dq_absmax."""
    code = nf4_code() if code is None else np.asarray(code, dtype=F32)
    nib = unpack_nibbles(packed, n)
    scale = np.asarray(scale, dtype=F32).reshape(-1)
    per_elem = np.repeat(scale, blocksize)[:n]
    return (code[nib] * per_elem).astype(F32)


def dquantize_8bit(s, code8):
    """Vectorised literal port of the kernel's dQuantize<0> binary search (SPEC section 5)."""
    s = np.asarray(s, dtype=F32).reshape(-1)
    code8 = np.asarray(code8, dtype=F32)
    m = s.size
    pivot = np.full(m, 127, dtype=np.int64)
    upper_pivot = np.full(m, 255, dtype=np.int64)
    lower_pivot = np.zeros(m, dtype=np.int64)
    lower = np.full(m, -1.0, dtype=F32)
    upper = np.full(m, 1.0, dtype=F32)
    val = code8[pivot]
    with np.errstate(invalid="ignore"):
        step = 64
        while step > 0:
            gt = s > val
            lower_pivot = np.where(gt, pivot, lower_pivot)
            lower = np.where(gt, val, lower)
            upper_pivot = np.where(gt, upper_pivot, pivot)
            upper = np.where(gt, upper, val)
            pivot = np.where(gt, pivot + step, pivot - step)
            val = code8[pivot]
            step >>= 1
        upper = np.where(upper_pivot == 255, code8[255], upper)
        lower = np.where(lower_pivot == 0, code8[0], lower)
        gt = s > val
        mid_up = ((upper + val).astype(F32) * F32(0.5)).astype(F32)
        mid_lo = ((lower + val).astype(F32) * F32(0.5)).astype(F32)
        res = np.where(gt,
                       np.where(s > mid_up, upper_pivot, pivot),
                       np.where(s < mid_lo, lower_pivot, pivot))
    return res.astype(np.uint8)


def quantize_blockwise_8bit(x, blocksize=256, code8=None):
    """bnb quantize_blockwise (General8bit): -> (q uint8[n], absmax fp32[ceil(n/blocksize)])."""
    code8 = dynamic_map_signed() if code8 is None else np.asarray(code8, dtype=F32)
    x = np.asarray(x, dtype=F32).reshape(-1)
    n = x.size
    absmax, scaled = _blockwise_absmax_and_scaled(x, blocksize)
    return dquantize_8bit(scaled[:n], code8), absmax


def dequantize_blockwise_8bit(q, absmax, blocksize=256, code8=None):
    code8 = dynamic_map_signed() if code8 is None else np.asarray(code8, dtype=F32)
    q = np.asarray(q, dtype=np.uint8).reshape(-1)
    per = np.repeat(np.asarray(absmax, dtype=F32), blocksize)[: q.size]
    return (code8[q] * per).astype(F32)


def absmax_mean(absmax):
    """Pinned offset: float64 sum / count, rounded once to fp32."""
    a = np.asarray(absmax, dtype=F32).astype(np.float64)
    return F32(a.sum() / a.size)


def double_quantize(absmax, blocksize=256):
    """-> (qabsmax uint8[nblocks], nested_absmax fp32[ceil(nblocks/blocksize)], offset fp32)."""
    absmax = np.asarray(absmax, dtype=F32).reshape(-1)
    offset = absmax_mean(absmax)
    centered = (absmax - offset).astype(F32)
    q, nested_absmax = quantize_blockwise_8bit(centered, blocksize)
    return q, nested_absmax, offset


def dequantize_absmax(qabsmax, nested_absmax, offset, blocksize=256, code8=None):
    """scale[b] = fp32(fp32(code8[q[b]] * nested_absmax[b // blocksize]) + offset)."""
    prod = dequantize_blockwise_8bit(qabsmax, nested_absmax, blocksize, code8)
    return (prod + F32(offset)).astype(F32)


def quantize_nf4_dq(x, blocksize=64, nested_blocksize=256):
    """Full QLoRA path. Returns a dict of every stored component plus the dequantized result."""
    x = np.asarray(x, dtype=F32)
    n = x.size
    packed, absmax = quantize_nf4(x, blocksize)
    qabsmax, nested_absmax, offset = double_quantize(absmax, nested_blocksize)
    scale = dequantize_absmax(qabsmax, nested_absmax, offset, nested_blocksize)
    return {
        "packed": packed, "absmax": absmax, "qabsmax": qabsmax,
        "nested_absmax": nested_absmax, "offset": offset, "scale": scale,
        "dequant": dequantize_nf4(packed, scale, n, blocksize),
        "dequant_plain": dequantize_nf4(packed, absmax, n, blocksize),
    }


def quant_state_json(shape, blocksize=64, dtype="float32", nested=True,
                     nested_blocksize=256, nested_offset=None):
    """The JSON text bnb packs into <name>.quant_state.bitsandbytes__nf4 (json.dumps defaults)."""
    d = {"quant_type": "nf4", "blocksize": int(blocksize), "dtype": dtype,
         "shape": [int(s) for s in shape]}
    if nested:
        d.update({"nested_blocksize": int(nested_blocksize), "nested_dtype": "float32",
                  "nested_offset": float(F32(nested_offset))})
    return json.dumps(d)


def bnb_tensors(name, x, shape=None, blocksize=64, nested_blocksize=256, dtype="float32"):
    """{tensor name: numpy array} exactly as bnb serializes one quantized weight (nested)."""
    x = np.asarray(x, dtype=F32)
    shape = tuple(x.shape) if shape is None else tuple(shape)
    r = quantize_nf4_dq(x, blocksize, nested_blocksize)
    js = quant_state_json(shape, blocksize, dtype, True, nested_blocksize, r["offset"])
    return {
        name: r["packed"].reshape(-1, 1),
        name + ".absmax": r["qabsmax"],
        name + ".quant_map": nf4_code(),
        name + ".nested_absmax": r["nested_absmax"],
        name + ".nested_quant_map": dynamic_map_signed(),
        name + QUANT_STATE_SUFFIX: np.frombuffer(js.encode("utf-8"), dtype=np.uint8).copy(),
    }


def dequantize_from_tensors(get, name):
    """Dequantize weight `name` from its stored components (get(key) -> ndarray).

    Uses the STORED quant_map / nested_quant_map. Returns (fp32 array reshaped, state dict).
    """
    state = json.loads(bytes(np.asarray(get(name + QUANT_STATE_SUFFIX), dtype=np.uint8)).decode("utf-8"))
    if state.get("quant_type") != "nf4":
        raise ValueError(f"{name}: quant_type {state.get('quant_type')!r} is not nf4")
    shape = [int(s) for s in state["shape"]]
    n = int(np.prod(shape)) if shape else 1
    bs = int(state["blocksize"])
    packed = np.asarray(get(name)).reshape(-1).view(np.uint8)
    if packed.size != (n + 1) // 2:
        raise ValueError(f"{name}: packed size {packed.size} != (n+1)//2 = {(n + 1) // 2}")
    code = np.asarray(get(name + ".quant_map"), dtype=F32)
    nblocks = -(-n // bs)
    if "nested_blocksize" in state:
        q = np.asarray(get(name + ".absmax"))
        if q.dtype != np.uint8 or q.size != nblocks:
            raise ValueError(f"{name}: nested absmax must be uint8[{nblocks}], got {q.dtype}{list(q.shape)}")
        nbs = int(state["nested_blocksize"])
        nabs = np.asarray(get(name + ".nested_absmax"), dtype=F32).reshape(-1)
        if nabs.size != -(-nblocks // nbs):
            raise ValueError(f"{name}: nested_absmax has {nabs.size} entries, want {-(-nblocks // nbs)}")
        code8 = np.asarray(get(name + ".nested_quant_map"), dtype=F32)
        scale = dequantize_absmax(q, nabs, F32(float(state["nested_offset"])), nbs, code8)
    else:
        scale = np.asarray(get(name + ".absmax"), dtype=F32).reshape(-1)
        if scale.size != nblocks:
            raise ValueError(f"{name}: absmax has {scale.size} entries, want {nblocks}")
    return dequantize_nf4(packed, scale, n, bs, code).reshape(shape), state


def self_check():
    """Internal consistency checks of the facts the SPEC states."""
    c = nf4_code()
    t = nf4_thresholds()
    mids = ((c[:-1] + c[1:]).astype(F32) * F32(0.5)).astype(F32)
    assert np.array_equal(mids.view(np.uint32), t.view(np.uint32)), "thresholds != fp32 midpoints"
    d = dynamic_map_signed()
    assert d.size == 256 and np.all(np.diff(d) > 0)
    assert d[127] == 0.0 and d[255] == 1.0 and d[0] == -d[254]
    # dQuantize == nearest-by-fp32-midpoint with ties to the even index
    rng = np.random.default_rng(0)
    dm = ((d[:-1] + d[1:]).astype(F32) * F32(0.5)).astype(F32)
    probe = np.concatenate([
        rng.uniform(-1, 1, 200000).astype(F32), d, dm,
        np.nextafter(dm, F32(2)), np.nextafter(dm, F32(-2)), np.array([-1.0, 1.0], F32)])
    got = dquantize_8bit(probe, d).astype(np.int64)
    lo = np.searchsorted(dm, probe, side="left")    # count of midpoints < s
    le = np.searchsorted(dm, probe, side="right")   # count of midpoints <= s
    tie = le > lo
    want = np.where(tie, np.where(lo % 2 == 0, lo, lo + 1), lo)
    assert np.array_equal(got, want), "dQuantize != nearest/ties-to-even-index"
    # round trip sanity
    x = rng.standard_normal(4097).astype(F32)
    r = quantize_nf4_dq(x)
    assert np.max(np.abs(r["dequant"] - x)) < 0.5 * np.max(np.abs(x))
    return True


if __name__ == "__main__":
    self_check()
    print("nf4_reference self-check OK")
    print("nf4 code:", nf4_code().tolist())
