#!/usr/bin/env python3
"""Writes golden fixtures for the Quantization module's GGML block decoders.

For every decodable ggml type this writes, into Tests/QuantizationTests/Fixtures/:
  <TYPE>.bin  raw little-endian block bytes (random quants, sane finite scales)
  <TYPE>.f32  the same data dequantized by gguf-py's reference, as little-endian float32
and types.txt: "id name blockSize bytesPerBlock" for every GGMLQuantizationType gguf-py knows.

ref: gguf-py (pip `gguf` 0.19.0) gguf/quants.py dequantize_blocks, a numpy port of ggml-quants.c
     dequantize_row_*; block layouts from ggml/src/ggml-common.h.
Usage: python3 Tools/reference/make_quant_goldens.py [output_dir]   (re-record only on request)
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

SEED = 20240611
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "..", "Tests", "QuantizationTests", "Fixtures")

# Byte offsets of every fp16 scale field inside one block (d, m, dmin, ...).
HALF_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}
LEGACY_BLOCKS = 32   # 1024 weights
KQUANT_BLOCKS = 8    # 2048 weights
PLAIN_ELEMENTS = 1024


def sane_halves(rng, n):
    """Random fp16 values in +-[0.001, 2]: finite, normal, both signs."""
    mag = rng.uniform(0.001, 2.0, n).astype(np.float32)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(np.float32)
    return (mag * sign).astype(np.float16)


def make_blocks(rng, name, qtype):
    block, size = GGML_QUANT_SIZES[qtype]
    n_blocks = KQUANT_BLOCKS if block == 256 else LEGACY_BLOCKS
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in HALF_FIELDS[name]:
        raw[:, off:off + 2] = sane_halves(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1)


def make_plain(rng, name):
    """F32/F16/BF16: random bit patterns with NaNs replaced, plus fixed edge cases up front."""
    if name == "F32":
        bits = rng.integers(0, 2**32, size=PLAIN_ELEMENTS, dtype=np.uint64).astype(np.uint32)
        nan = (bits & 0x7FFFFFFF) > 0x7F800000
        bits[nan] &= 0x807FFFFF  # NaN -> subnormal with the same payload
        bits[:6] = [0, 0x80000000, 1, 0x7F800000, 0xFF800000, 0x7F7FFFFF]
        return bits.view(np.uint8)
    bits = rng.integers(0, 2**16, size=PLAIN_ELEMENTS, dtype=np.uint32).astype(np.uint16)
    if name == "F16":
        nan = (bits & 0x7FFF) > 0x7C00
        bits[nan] &= 0x83FF
        bits[:8] = [0, 0x8000, 1, 0x8001, 0x03FF, 0x0400, 0x7C00, 0xFC00]
    else:  # BF16
        nan = (bits & 0x7FFF) > 0x7F80
        bits[nan] &= 0x807F
        bits[:6] = [0, 0x8000, 1, 0x7F80, 0xFF80, 0x3F80]
    return bits.view(np.uint8)


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    names = ["F32", "F16", "BF16"] + list(HALF_FIELDS)
    total = 0
    for name in names:
        qtype = T[name]
        data = make_plain(rng, name) if name in ("F32", "F16", "BF16") else make_blocks(rng, name, qtype)
        values = np.asarray(gguf.quants.dequantize(data, qtype), dtype=np.float32).reshape(-1)
        assert np.all(np.isfinite(values) | (name in ("F32", "F16", "BF16"))), name
        data.astype(np.uint8).tofile(os.path.join(out, name + ".bin"))
        values.astype("<f4").tofile(os.path.join(out, name + ".f32"))
        total += data.size + values.size * 4
        print(f"{name:5s} {data.size:6d} bytes -> {values.size:5d} floats")
    with open(os.path.join(out, "types.txt"), "w") as f:
        for qtype in T:
            block, size = GGML_QUANT_SIZES[qtype]
            f.write(f"{int(qtype)} {qtype.name} {block} {size}\n")
    print(f"total {total} bytes in {out}")


if __name__ == "__main__":
    main()
