#!/usr/bin/env python3
"""Checks a whole EdgeTune .nf4 model against the GGUF it was converted from.

Usage:
  Tools/check-nf4 SOURCE.gguf MODEL.nf4 [options]          (same as below)
  check_nf4_model.py SOURCE.gguf MODEL.nf4 [--eval-text FILE [--context N] [--expect PPL]
                     [--edgetune BIN] [--rtol 1e-4]] [--max-report K] [-q]

1. Codes. For every tensor of the Hugging Face layout (model.embed_tokens.weight,
   model.layers.I.self_attn.q_proj.weight, ...; mapped from blk.I.attn_q.weight etc., attn_q /
   attn_k rows un-permuted from llama.cpp's order), the SOURCE tensor is dequantized with the
   `gguf` package. If MODEL.nf4 holds it NF4-quantized (<name>.quant_state.bitsandbytes__nf4),
   it is re-quantized with Tools/reference/nf4_reference.py (blocksize / nested_blocksize from
   the file's quant state JSON; double quantization iff its nested_* keys are present) and the
   packed nibbles (incl. the padding nibble of odd n), the absmax codes (uint8 with DQ, fp32
   without), nested_absmax, the offset (fp32 bits), quant_map, nested_quant_map and the quant
   state JSON text (trailing blank padding ignored) must be IDENTICAL to the file's.
   Any other tensor must equal the source: bit for bit for F32, the round-to-nearest-even
   F16 / BF16 rounding of the fp32 source value for F16 / BF16. The file must hold exactly
   these tensors (plus the NF4 components) and its edgetune.config must agree with the GGUF.
2. Perplexity (--eval-text). Float64 numpy forward (Tools/reference/llama_reference.py, HF
   layout, rotate_half) with the weights DEQUANTIZED FROM THE FILE (nf4_reference, stored
   quant_map / nested_quant_map; plain tensors widened), tokenizer built from the GGUF as
   llama_reference does (no BOS), consecutive non-overlapping windows of --context tokens
   (default: the GGUF's context length), each predicting its tokens 1..n-1 -- the windowing of
   `edgetune eval`. --expect PPL and/or --edgetune BIN (runs `BIN eval -m MODEL.nf4 --text FILE
   --context N --json`) compare with that perplexity to --rtol relative (default 1e-4).
Exit status: 0 all good, 1 mismatch, 2 usage / unreadable input.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nf4_reference as R  # noqa: E402
from check_nf4 import COMPONENTS, File  # noqa: E402
from gguf import GGUFReader  # noqa: E402
from llama_reference import (Weights, build_tokenizer, dequant, encode, evaluate,  # noqa: E402
                             read_config, tensor_map, unpermute_qk)
from make_hf_copy import hf_names  # noqa: E402

F32 = np.float32


def bits32(a):
    return np.ascontiguousarray(np.asarray(a, dtype=F32)).reshape(-1).view(np.uint32)


def f32_to_bf16_bits(x):
    """fp32 -> bf16 bit patterns, round to nearest even (NaN not expected: inputs are finite)."""
    u = bits32(x).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def source_dtype_name(tensor_type_name):
    return {"F16": "float16", "BF16": "bfloat16"}.get(tensor_type_name, "float32")


class Checker:
    def __init__(self, max_report, quiet):
        self.errors = []
        self.max_report = max_report
        self.quiet = quiet

    def err(self, msg):
        self.errors.append(msg)
        if len(self.errors) <= self.max_report:
            print("MISMATCH: " + msg, file=sys.stderr)
        elif len(self.errors) == self.max_report + 1:
            print(f"MISMATCH: ... (further mismatches counted, not printed; --max-report {self.max_report})",
                  file=sys.stderr)

    def info(self, msg):
        if not self.quiet:
            print(msg)


def first_diff(a, b):
    d = np.flatnonzero(np.asarray(a).reshape(-1) != np.asarray(b).reshape(-1))
    return d.size, (int(d[0]) if d.size else -1)


def where(shape, i):
    if len(shape) == 2:
        return f"flat {i} = [row {i // shape[1]}, col {i % shape[1]}]"
    return f"flat {i}"


def check_quantized(ck, m, name, x, shape, src_type, stats):
    """x: fp32 source in HF layout. Returns the file's dequantized fp32 weight (or None)."""
    keys = set(m.names)
    state_raw = bytes(np.asarray(m.get(name + R.QUANT_STATE_SUFFIX), dtype=np.uint8)).decode("utf-8")
    try:
        state = json.loads(state_raw)
    except ValueError as exc:
        ck.err(f"{name}: quant state is not JSON: {exc}")
        return None
    if state.get("quant_type") != "nf4":
        ck.err(f"{name}: quant_type {state.get('quant_type')!r}")
        return None
    if [int(s) for s in state.get("shape", [])] != list(shape):
        ck.err(f"{name}: quant_state shape {state.get('shape')} != source shape {list(shape)}")
        return None
    bs = int(state["blocksize"])
    nested = "nested_blocksize" in state
    nbs = int(state["nested_blocksize"]) if nested else 0
    stats["params"].add((bs, nbs))
    n = x.size
    nblocks = -(-n // bs)
    x = x.reshape(-1)
    ok = True

    need = [name, name + ".absmax", name + ".quant_map"] + (
        [name + ".nested_absmax", name + ".nested_quant_map"] if nested else [])
    missing = [k for k in need if k not in keys]
    if missing:
        ck.err(f"{name}: missing components {missing}")
        return None
    extra = [name + c for c in COMPONENTS if name + c in keys and name + c not in need
             and c != R.QUANT_STATE_SUFFIX]
    if extra:
        ck.err(f"{name}: components {extra} present although the quant state "
               f"{'has' if nested else 'lacks'} nested_* keys")
        ok = False

    # --- reference
    packed_ref, absmax_ref = R.quantize_nf4(x, bs)
    if nested:
        q_ref, nabs_ref, off_ref = R.double_quantize(absmax_ref, nbs)

    # --- packed nibbles
    if m.dtype(name) != "U8" or list(m.header[name]["shape"]) != [(n + 1) // 2, 1]:
        ck.err(f"{name}: packed tensor is {m.dtype(name)}{m.header[name]['shape']}, want U8[{(n + 1) // 2}, 1]")
        return None
    packed = np.asarray(m.get(name), dtype=np.uint8).reshape(-1)
    nb, i = first_diff(packed, packed_ref)
    if nb:
        nib_f = R.unpack_nibbles(packed, n + (n & 1))
        nib_r = R.unpack_nibbles(packed_ref, n + (n & 1))
        bad = np.flatnonzero(nib_f != nib_r)
        j = int(bad[0])
        stats["nibble_mismatch"] += int(bad.size)
        if j < n:
            b = j // bs
            inv = F32(1.0) / absmax_ref[b]
            s = F32(x[j] * inv)
            ck.err(f"{name}: {bad.size} of {n} nibbles differ ({nb} bytes); first at {where(shape, j)}: "
                   f"file nibble {int(nib_f[j])}, reference {int(nib_r[j])}; source x={float(x[j])!r} "
                   f"(0x{int(bits32(x[j])[0]):08x}), block {b} absmax={float(absmax_ref[b])!r}, "
                   f"scaled x*(1/absmax)={float(s)!r}")
        else:
            ck.err(f"{name}: padding nibble (odd n={n}) is {int(nib_f[j])}, reference {int(nib_r[j])}")
        ok = False
    stats["nibbles"] += n

    # --- maps
    qm = m.get(name + ".quant_map")
    if m.dtype(name + ".quant_map") != "F32" or not np.array_equal(bits32(qm), bits32(R.nf4_code())):
        ck.err(f"{name}: quant_map ({m.dtype(name + '.quant_map')}) is not nf4_reference.nf4_code()")
        ok = False

    absmax_t = m.get(name + ".absmax")
    if nested:
        if m.dtype(name + ".absmax") != "U8" or absmax_t.size != nblocks:
            ck.err(f"{name}: absmax is {m.dtype(name + '.absmax')}{list(absmax_t.shape)}, want U8[{nblocks}]")
            return None
        k, j = first_diff(absmax_t, q_ref)
        if k:
            g = j // nbs
            ck.err(f"{name}: {k} of {nblocks} absmax codes differ; first block {j}: file {int(absmax_t.reshape(-1)[j])}, "
                   f"reference {int(q_ref[j])} (absmax={float(absmax_ref[j])!r}, offset={float(off_ref)!r}, "
                   f"nested_absmax[{g}]={float(nabs_ref[g])!r})")
            ok = False
        stats["absmax_mismatch"] += k
        stats["absmax"] += nblocks
        nabs = m.get(name + ".nested_absmax")
        if m.dtype(name + ".nested_absmax") != "F32" or nabs.size != nabs_ref.size:
            ck.err(f"{name}: nested_absmax is {m.dtype(name + '.nested_absmax')}{list(nabs.shape)}, "
                   f"want F32[{nabs_ref.size}]")
            ok = False
        else:
            k, j = first_diff(bits32(nabs), bits32(nabs_ref))
            if k:
                ck.err(f"{name}: {k} of {nabs_ref.size} nested_absmax differ; first [{j}]: file "
                       f"{float(nabs.reshape(-1)[j])!r}, reference {float(nabs_ref[j])!r}")
                ok = False
            stats["nested_mismatch"] += k
            stats["nested"] += nabs_ref.size
        off = F32(float(state["nested_offset"]))
        if bits32(off)[0] != bits32(off_ref)[0]:
            ck.err(f"{name}: nested_offset {float(off)!r} (0x{int(bits32(off)[0]):08x}) != reference "
                   f"{float(off_ref)!r} (0x{int(bits32(off_ref)[0]):08x})")
            ok = False
            stats["offset_mismatch"] += 1
        nqm = m.get(name + ".nested_quant_map")
        if m.dtype(name + ".nested_quant_map") != "F32" or not np.array_equal(bits32(nqm), bits32(R.dynamic_map_signed())):
            ck.err(f"{name}: nested_quant_map is not nf4_reference.dynamic_map_signed()")
            ok = False
        want_js = R.quant_state_json(shape, bs, source_dtype_name(src_type), True, nbs, off_ref)
    else:
        if m.dtype(name + ".absmax") != "F32" or absmax_t.size != nblocks:
            ck.err(f"{name}: absmax is {m.dtype(name + '.absmax')}{list(absmax_t.shape)}, want F32[{nblocks}]")
            return None
        k, j = first_diff(bits32(absmax_t), bits32(absmax_ref))
        if k:
            ck.err(f"{name}: {k} of {nblocks} fp32 absmax differ; first block {j}: file "
                   f"{float(absmax_t.reshape(-1)[j])!r}, reference {float(absmax_ref[j])!r}")
            ok = False
        stats["absmax_mismatch"] += k
        stats["absmax"] += nblocks
        want_js = R.quant_state_json(shape, bs, source_dtype_name(src_type), False)
    if state_raw.rstrip(" ") != want_js:
        ck.err(f"{name}: quant state JSON {state_raw.rstrip(' ')!r} != reference {want_js!r}")
        ok = False
    if len(state_raw) != len(state_raw.rstrip(" ")):
        stats["json_padded"] += 1
    stats["quantized_ok" if ok else "quantized_bad"] += 1
    try:
        w, _ = R.dequantize_from_tensors(m.get, name)
    except Exception as exc:  # already reported above in most cases
        ck.err(f"{name}: cannot dequantize from the file: {exc}")
        return None
    return w


def check_plain(ck, m, name, x, stats):
    dt = m.dtype(name)
    got = m.get(name)
    if list(got.shape) != list(x.shape):
        ck.err(f"{name}: shape {list(got.shape)} != source {list(x.shape)}")
        return None
    if dt == "F32":
        want, have = bits32(x), bits32(got)
    elif dt == "F16":
        want = np.ascontiguousarray(x.astype(np.float16)).reshape(-1).view(np.uint16)
        have = np.ascontiguousarray(got).reshape(-1).view(np.uint16)
    elif dt == "BF16":
        want, have = f32_to_bf16_bits(x), np.asarray(got).reshape(-1)
    else:
        ck.err(f"{name}: unexpected dtype {dt} for a non-quantized tensor")
        return None
    k, j = first_diff(have, want)
    if k:
        ck.err(f"{name} ({dt}): {k} of {x.size} values differ from the {dt}-rounded source; first at "
               f"{where(x.shape, j)}: file bits 0x{int(have[j]):x}, want 0x{int(want[j]):x} "
               f"(source {float(x.reshape(-1)[j])!r})")
        stats["plain_bad"] += 1
    else:
        stats["plain_ok"] += 1
    stats["plain_dtypes"][dt] = stats["plain_dtypes"].get(dt, 0) + 1
    return m.as_f32(name)


def check_config(ck, m, cfg):
    raw = m.metadata.get("edgetune.config")
    if raw is None:
        ck.info("config: metadata edgetune.config absent, not checked")
        return
    c = json.loads(raw)
    pairs = [("num_hidden_layers", cfg["n_layer"]), ("hidden_size", cfg["n_embd"]),
             ("intermediate_size", cfg["n_ff"]), ("num_attention_heads", cfg["n_head"]),
             ("num_key_value_heads", cfg["n_head_kv"]), ("vocab_size", cfg["n_vocab"]),
             ("rope_theta", cfg["rope_base"]), ("rms_norm_eps", cfg["rms_eps"])]
    if "head_dim" in c:
        pairs.append(("head_dim", cfg["head_dim"]))
    bad = [f"{k}={c.get(k)!r} (GGUF {v!r})" for k, v in pairs
           if c.get(k) is None or F32(c[k]) != F32(v)]
    if bad:
        ck.err("edgetune.config disagrees with the GGUF: " + ", ".join(bad))
    else:
        ck.info(f"config: edgetune.config agrees with the GGUF ({len(pairs)} fields)")


def run_edgetune(binary, model, text, context):
    cmd = [binary, "eval", "-m", model, "--text", text, "--context", str(context), "--json"]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-500:]}")
    out = p.stdout
    js = json.loads(out[out.index("{"): out.rindex("}") + 1])
    return js, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("source", help="the GGUF the model was converted from")
    ap.add_argument("model", help="the .nf4 file")
    ap.add_argument("--eval-text", metavar="FILE")
    ap.add_argument("--context", type=int, help="window length (default: the GGUF's context length)")
    ap.add_argument("--expect", type=float, metavar="PPL", help="perplexity to compare with")
    ap.add_argument("--edgetune", metavar="BIN", help="also run `BIN eval` on MODEL and compare")
    ap.add_argument("--rtol", type=float, default=1e-4, help="perplexity tolerance (relative)")
    ap.add_argument("--max-report", type=int, default=20, help="mismatch lines printed (all are counted)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    if (args.context or args.expect is not None or args.edgetune) and not args.eval_text:
        ap.error("--context / --expect / --edgetune need --eval-text")
    t0 = time.time()
    try:
        reader = GGUFReader(args.source)
        cfg = read_config(reader)
        m = File(args.model)
    except (Exception, SystemExit) as exc:
        print(f"check-nf4-model: cannot open input: {exc}", file=sys.stderr)
        return 2
    ck = Checker(args.max_report, args.quiet)
    tm = tensor_map(reader)
    names = hf_names(cfg, "output.weight" in tm)
    print(f"{args.model}: {len(m.names)} tensors; source {os.path.basename(args.source)}: "
          f"{len(tm)} tensors, {cfg['n_layer']} layers")
    check_config(ck, m, cfg)

    stats = dict(params=set(), nibbles=0, nibble_mismatch=0, absmax=0, absmax_mismatch=0, nested=0,
                 nested_mismatch=0, offset_mismatch=0, quantized_ok=0, quantized_bad=0, json_padded=0,
                 plain_ok=0, plain_bad=0, plain_dtypes={})
    keep = args.eval_text is not None
    weights = {}
    accounted = set()
    used_gguf = set()
    for hf, g, unperm in names:
        used_gguf.add(g)
        t = tm[g]
        x = dequant(t)
        if unperm:
            x = unpermute_qk(x, unperm)
        x = np.ascontiguousarray(x, dtype=F32)
        if not np.all(np.isfinite(x)):
            ck.err(f"{hf}: source {g} has non-finite values")
        if hf + R.QUANT_STATE_SUFFIX in m.header:
            accounted.update(k for k in [hf] + [hf + c for c in COMPONENTS] if k in m.header)
            w = check_quantized(ck, m, hf, x, x.shape, t.tensor_type.name, stats)
            kind = "NF4"
        elif hf in m.header:
            accounted.add(hf)
            w = check_plain(ck, m, hf, x, stats)
            kind = m.dtype(hf)
        else:
            ck.err(f"{hf}: missing from the file (source {g})")
            continue
        ck.info(f"  {kind:4s} {hf} {list(x.shape)} <- {g} ({t.tensor_type.name}"
                f"{', un-permuted' if unperm else ''})")
        if keep and w is not None:
            weights[hf] = np.asarray(w, dtype=np.float64)
    for k in m.names:
        if k not in accounted:
            ck.err(f"{k}: in the file but not a tensor of the source model (or a stray NF4 component)")
    skipped = sorted(set(tm) - used_gguf)
    t_codes = time.time() - t0

    print(f"quantized tensors: {stats['quantized_ok'] + stats['quantized_bad']} "
          f"({stats['quantized_ok']} identical to the reference, {stats['quantized_bad']} not); params "
          + ", ".join(f"blocksize {b}" + (f" nested {nb}" if nb else " no DQ") for b, nb in sorted(stats["params"])))
    print(f"  nibbles: {stats['nibble_mismatch']} of {stats['nibbles']} differ; absmax "
          f"{'codes' if any(nb for _, nb in stats['params']) else 'values'}: {stats['absmax_mismatch']} of "
          f"{stats['absmax']} differ; nested_absmax: {stats['nested_mismatch']} of {stats['nested']} differ; "
          f"offsets: {stats['offset_mismatch']} differ")
    if stats["json_padded"]:
        print(f"  note: {stats['json_padded']} quant state JSONs carry trailing blank padding (ignored)")
    print(f"plain tensors: {stats['plain_ok'] + stats['plain_bad']} ({stats['plain_ok']} equal to the source, "
          f"{stats['plain_bad']} not); dtypes {stats['plain_dtypes']}")
    if skipped:
        print(f"source tensors not part of the HF layout (ignored): {skipped}")
    print(f"codes check: {len(ck.errors)} mismatches [{t_codes:.1f}s]")

    if args.eval_text:
        missing = [hf for hf, _, _ in names if hf not in weights]
        if missing:
            ck.err(f"perplexity skipped: {len(missing)} tensors could not be read (first {missing[0]})")
        else:
            t1 = time.time()
            g = weights.get
            layers = []
            for i in range(cfg["n_layer"]):
                p = f"model.layers.{i}."
                layers.append(dict(
                    attn_norm=g(p + "input_layernorm.weight"),
                    wq=g(p + "self_attn.q_proj.weight"), wk=g(p + "self_attn.k_proj.weight"),
                    wv=g(p + "self_attn.v_proj.weight"), wo=g(p + "self_attn.o_proj.weight"),
                    ffn_norm=g(p + "post_attention_layernorm.weight"),
                    gate=g(p + "mlp.gate_proj.weight"), up=g(p + "mlp.up_proj.weight"),
                    down=g(p + "mlp.down_proj.weight")))
            W = Weights(cfg, g("model.embed_tokens.weight"), layers, g("model.norm.weight"), "half",
                        g("lm_head.weight"))
            tok = build_tokenizer(reader)
            ids = encode(tok, open(args.eval_text, encoding="utf-8").read())
            context = args.context or cfg["n_ctx"]
            ev = evaluate(W, ids, context)
            ppl = ev["perplexity"]
            print(f"perplexity (numpy float64, NF4 weights from the file): {ppl:.6f}  mean_loss "
                  f"{ev['mean_loss']:.8f}, {ev['tokens']} tokens, {ev['predicted']} predicted, "
                  f"context {context} [{time.time() - t1:.1f}s]")
            refs = []
            if args.expect is not None:
                refs.append(("--expect", args.expect))
            if args.edgetune:
                try:
                    js, dt = run_edgetune(args.edgetune, args.model, args.eval_text, context)
                    print(f"edgetune eval: perplexity {js.get('perplexity')}, mean_loss {js.get('mean_loss')}, "
                          f"tokens {js.get('tokens')} [{dt:.1f}s]")
                    refs.append(("edgetune eval", float(js["perplexity"])))
                    for key in ("tokens", "predicted"):
                        if js.get(key) is not None and int(js[key]) != ev[key]:
                            ck.err(f"edgetune eval: {key} {js[key]}, reference {ev[key]}")
                except Exception as exc:
                    ck.err(f"edgetune eval failed: {exc}")
            for label, v in refs:
                rel = abs(v - ppl) / ppl
                line = f"{label} {v!r} vs reference {ppl!r}: relative difference {rel:.3e} (rtol {args.rtol:g})"
                if rel > args.rtol:
                    ck.err(line)
                else:
                    print("  ok  " + line)
    m.close()
    print(f"{'FAILED' if ck.errors else 'OK'} ({len(ck.errors)} mismatches, {time.time() - t0:.1f}s)")
    return 1 if ck.errors else 0


if __name__ == "__main__":
    sys.exit(main())
