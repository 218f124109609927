#!/usr/bin/env python3
"""Checks an EdgeTune .nf4 file (bitsandbytes NF4 safetensors) against its fp32 export.

Usage: Tools/check-nf4 MODEL.nf4 EXPORTED_FP32.safetensors [--rtol 1e-6]

- prints the metadata keys of MODEL.nf4;
- finds every NF4-quantized weight <name> by the tensor <name>.quant_state.bitsandbytes__nf4,
  parses its JSON and dequantizes it with Tools/reference/nf4_reference.py (using the STORED
  quant_map / nested_quant_map), then compares with tensor <name> of the export
  (float32, same shape): max elementwise relative error must be <= rtol (default 1e-6);
- every other tensor must be present in the export and equal exactly (bitwise, after widening
  f16/bf16 to f32);
- the export must contain exactly these tensors (no missing, no extra);
- if metadata key "edgetune.checksums" exists (JSON {name: "crc32:%08x"} of each tensor's raw
  bytes, zlib.crc32, and "__metadata__": the CRC of the other metadata) every listed checksum is verified;
- prints storage bits per weight of the quantized tensors.
Exit status: 0 all good, 1 mismatch, 2 usage / unreadable input.
"""
import argparse
import json
import os
import struct
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nf4_reference as R  # noqa: E402

try:
    from safetensors import safe_open
except ImportError:  # pragma: no cover
    print("check-nf4: the 'safetensors' package is required "
          "(pip install -r Tools/reference/requirements.txt)", file=sys.stderr)
    sys.exit(2)

COMPONENTS = (".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map", R.QUANT_STATE_SUFFIX)
RAW_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
              "I16": "<i2", "I8": "i1", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8",
              "BOOL": "u1"}


class File:
    """A safetensors file: safe_open(framework="numpy") plus a raw-bytes view of its header
    (for dtypes numpy lacks, e.g. BF16, and to know each tensor's declared dtype)."""

    def __init__(self, path):
        self.path = path
        self.handle = safe_open(path, framework="numpy")
        self.f = self.handle.__enter__()
        with open(path, "rb") as fh:
            (hlen,) = struct.unpack("<Q", fh.read(8))
            self.header = json.loads(fh.read(hlen))
        self.base = 8 + hlen
        self.header.pop("__metadata__", None)
        self.metadata = self.f.metadata() or {}
        self.names = list(self.f.keys())

    def dtype(self, name):
        return self.header[name]["dtype"]

    def get(self, name):
        """numpy array; BF16 comes back as its raw uint16 bit patterns."""
        info = self.header[name]
        if info["dtype"] == "BF16":
            return self.raw(name).view("<u2").reshape(info["shape"])
        return self.f.get_tensor(name)

    def raw(self, name):
        begin, end = self.header[name]["data_offsets"]
        return np.fromfile(self.path, dtype=np.uint8, count=end - begin, offset=self.base + begin)

    def as_f32(self, name):
        a = self.get(name)
        if self.dtype(name) == "BF16":
            return (a.astype(np.uint32) << 16).view(np.float32)
        return a.astype(np.float32) if a.dtype != np.float32 else a

    def close(self):
        self.handle.__exit__(None, None, None)


def bits_per_weight(blocksize, nested_blocksize):
    return 4 + 8 / blocksize + 32 / (blocksize * nested_blocksize)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("exported")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("-q", "--quiet", action="store_true", help="only the summary and errors")
    args = ap.parse_args()
    t0 = time.time()
    try:
        m = File(args.model)
        e = File(args.exported)
    except Exception as exc:  # unreadable / not safetensors
        print(f"check-nf4: cannot open input: {exc}", file=sys.stderr)
        return 2

    errors, warnings = [], []

    def err(msg):
        errors.append(msg)
        print("MISMATCH: " + msg, file=sys.stderr)

    print(f"{args.model}: {len(m.names)} tensors, metadata keys: {sorted(m.metadata)}")
    for k in sorted(m.metadata):
        v = m.metadata[k]
        print(f"  {k} = {v if len(v) <= 100 else v[:97] + '...'}")

    quantized = sorted(n[: -len(R.QUANT_STATE_SUFFIX)] for n in m.names if n.endswith(R.QUANT_STATE_SUFFIX))
    owned = set()
    for base in quantized:
        owned.add(base)
        owned.update(base + c for c in COMPONENTS if base + c in m.f.keys())
    plain = [n for n in m.names if n not in owned]
    expected = set(quantized) | set(plain)
    exported = set(e.names)
    for n in sorted(expected - exported):
        err(f"{n}: missing from the export")
    for n in sorted(exported - expected):
        err(f"{n}: in the export but not a tensor / quantized weight of the .nf4 file")

    code4, code8 = R.nf4_code(), R.dynamic_map_signed()
    worst_rel, worst_name, n_weights = 0.0, None, 0
    core_bits, full_bits, q_elems, nonstandard_map = 0, 0, 0, 0
    params = set()
    for base in quantized:
        try:
            missing = [c for c in (base,) + tuple(base + s for s in COMPONENTS[:2]) if c not in m.f.keys()]
            if missing:
                raise ValueError(f"missing component tensors {missing}")
            if m.dtype(base) != "U8":
                raise ValueError(f"packed weight dtype {m.dtype(base)}, want U8")
            qm = m.get(base + ".quant_map")
            if not np.array_equal(np.asarray(qm, np.float32).view(np.uint32), code4.view(np.uint32)):
                raise ValueError("quant_map is not the NF4 code of bitsandbytes get_4bit_type('nf4')")
            ref, state = R.dequantize_from_tensors(m.get, base)
        except Exception as exc:
            err(f"{base}: cannot dequantize: {exc}")
            continue
        nested = "nested_blocksize" in state
        if nested:
            nqm = np.asarray(m.get(base + ".nested_quant_map"), np.float32)
            if not np.array_equal(nqm.view(np.uint32), code8.view(np.uint32)):
                nonstandard_map += 1
        n = ref.size
        bs = int(state["blocksize"])
        nbs = int(state.get("nested_blocksize", 0))
        params.add((bs, nbs))
        cb = m.header[base]["data_offsets"][1] - m.header[base]["data_offsets"][0]
        cb += np.prod(m.header[base + ".absmax"]["shape"]) * (1 if nested else 4)
        if nested:
            cb += 4 * np.prod(m.header[base + ".nested_absmax"]["shape"]) + 4  # + offset (in JSON)
        core_bits += 8 * int(cb)
        full = sum(m.header[c]["data_offsets"][1] - m.header[c]["data_offsets"][0]
                   for c in [base] + [base + s for s in COMPONENTS] if c in m.header)
        full_bits += 8 * int(full)
        q_elems += n
        if base not in exported:
            continue
        if e.dtype(base) != "F32":
            err(f"{base}: exported dtype {e.dtype(base)}, want F32")
            continue
        got = e.get(base)
        if list(got.shape) != list(ref.shape):
            err(f"{base}: exported shape {list(got.shape)}, quant_state shape {list(ref.shape)}")
            continue
        got = got.reshape(-1)
        want = ref.reshape(-1)
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        denom = np.abs(want.astype(np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(denom > 0, diff / np.where(denom > 0, denom, 1.0), np.where(diff > 0, np.inf, 0.0))
        bad_nan = np.isnan(got) != np.isnan(want)
        r = float(np.nanmax(rel)) if rel.size else 0.0
        if bad_nan.any():
            r = float("inf")
        inexact = int((got.view(np.uint32) != want.view(np.uint32)).sum())
        n_weights += 1
        if r > worst_rel or worst_name is None:
            worst_rel, worst_name = r, base
        if r > args.rtol:
            i = int(np.nanargmax(rel)) if not bad_nan.any() else int(np.argmax(bad_nan))
            err(f"{base}: max relative error {r:.3e} > {args.rtol:g} at flat index {i} "
                f"(export {float(got[i])!r}, reference {float(want[i])!r}); {inexact} of {n} values not bit-exact")
        elif not args.quiet:
            print(f"  ok  {base} {list(ref.shape)} bs={bs}"
                  f"{' nested=' + str(nbs) if nested else ''} max_rel={r:.2e} not_bit_exact={inexact}")

    exact_ok = 0
    for name in plain:
        if name not in exported:
            continue
        a, b = m.as_f32(name), e.as_f32(name)
        if list(a.shape) != list(b.shape):
            err(f"{name}: shape {list(b.shape)} in the export, {list(a.shape)} in the .nf4 file")
        elif not np.array_equal(np.ascontiguousarray(a).view(np.uint32), np.ascontiguousarray(b).view(np.uint32)):
            k = int((np.ascontiguousarray(a).view(np.uint32) != np.ascontiguousarray(b).view(np.uint32)).sum())
            err(f"{name}: {k} values differ (non-quantized tensors must be bit-identical)")
        else:
            exact_ok += 1

    ck = m.metadata.get("edgetune.checksums")
    n_ck = 0
    if ck is not None:
        try:
            sums = json.loads(ck)
            assert isinstance(sums, dict)
        except Exception:
            err("metadata edgetune.checksums is not a JSON object")
            sums = {}
        # "__metadata__" is the checksum of the other metadata (SafetensorsFile+Checksums.swift): each key and value
        # followed by a NUL byte, keys sorted, edgetune.checksums itself left out.
        meta_want = sums.pop("__metadata__", None)
        if meta_want is not None:
            crc = 0
            for key in sorted(k for k in m.metadata if k != "edgetune.checksums"):
                for text in (key, m.metadata[key]):
                    crc = zlib.crc32(text.encode() + b"\0", crc)
            got = "crc32:%08x" % (crc & 0xFFFFFFFF)
            if got != meta_want:
                err(f"__metadata__: {got} != recorded {meta_want}: the metadata is damaged")
        for name, want in sorted(sums.items()):
            if name not in m.header:
                err(f"checksum listed for {name}, which is not in the file")
                continue
            got = "crc32:%08x" % (zlib.crc32(m.raw(name).tobytes()) & 0xFFFFFFFF)
            if got != want:
                err(f"{name}: {got} != recorded {want}")
            n_ck += 1
        uncovered = [n for n in m.names if n not in sums]
        if uncovered:
            warnings.append(f"{len(uncovered)} tensors have no checksum (first: {uncovered[0]})")

    print(f"quantized NF4 weights: {len(quantized)} ({n_weights} compared), "
          f"max relative error {worst_rel:.3e}" + (f" ({worst_name})" if worst_name else ""))
    print(f"non-quantized tensors: {len(plain)} ({exact_ok} bit-identical)")
    if ck is not None:
        print(f"crc32 checksums verified: {n_ck}")
    else:
        print("crc32 checksums: metadata key edgetune.checksums absent, not checked")
    if q_elems:
        print(f"storage: {core_bits / q_elems:.4f} bits/weight (packed + absmax + nested_absmax + offset), "
              f"{full_bits / q_elems:.4f} incl. per-tensor maps and JSON; "
              + ", ".join(f"theory {bits_per_weight(b, nb) if nb else 4 + 32 / b:.4f} for {b}/{nb or '-'}"
                          for b, nb in sorted(params)))
    if nonstandard_map:
        warnings.append(f"{nonstandard_map} tensors store a nested_quant_map that differs from "
                        "bnb's published dynamic map (allowed: the stored map was used)")
    for w in warnings:
        print("warning: " + w)
    m.close()
    e.close()
    print(f"{'FAILED' if errors else 'OK'} ({len(errors)} mismatches, {time.time() - t0:.1f}s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
