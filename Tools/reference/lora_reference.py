#!/usr/bin/env python3
"""float64 numpy reference for ONE LoRA training step's gradients on the real model.

The model is SmolLM2-135M-Instruct read from its GGUF (weights dequantized with the `gguf` package, Q/K rows
un-permuted to Hugging Face order, rotary by rotate_half: `llama_reference.Weights.from_gguf(hf_layout=True)`).
LoRA (rank 4, alpha 8, no dropout) sits on q_proj and v_proj of every layer:

    q = h Wqᵀ + s · (h Aqᵀ) Bqᵀ,   v = h Wvᵀ + s · (h Avᵀ) Bvᵀ,   s = alpha / r = 2

A is drawn as PEFT does (kaiming_uniform_ with a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in))); B is NOT zero here
(PEFT starts it at zero, which would make every dA zero) but N(0, 0.02²), so both gradients are exercised. A and B
are rounded to float32 and written as a PEFT adapter directory (adapter_config.json + adapter_model.safetensors,
keys `base_model.model.model.layers.{i}.self_attn.{q,v}_proj.lora_{A,B}.weight`); the float64 computation uses
exactly those float32 values, so a Swift test that loads the directory sees the same parameters.

The sequence is a 24-token ChatML exchange written by hand in SmolLM2's chat format (no default system message, so
it stays short); targets are the next tokens, with every target that lies in the prompt (and the last position,
which has no next token) set to -1. loss = mean cross-entropy over the unmasked targets.

The backward pass is written out by hand (llm.c style: each forward piece has its backward beside it) and checked
by central finite differences on a few entries of A and B. The golden JSON keeps: the token ids and targets, the
loss (with and without LoRA), and per layer and target the Frobenius norms of dA and dB plus sampled entries
(flat row-major index, value). Compare entries with a tolerance relative to the tensor's Frobenius norm: float32
accumulation error is relative to the whole tensor, not to a single entry that happens to be near zero.

Usage:
  python3 lora_reference.py [--gguf PATH] [--check-fd] [--write]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import struct
import time

import numpy as np
from gguf import GGUFReader

import llama_reference as R

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, "Tests", "TrainingTests", "Fixtures")
ADAPTER_DIR = os.path.join(FIXTURES, "lora_grad_adapter")
GOLDEN = os.path.join(FIXTURES, "lora_grad_golden.json")

PROMPT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
ANSWER = "The capital of France is Paris.<|im_end|>"
SEQUENCE_LENGTH = 24
RANK = 4
ALPHA = 8.0
SEED = 1234
B_STD = 0.02
TARGETS = ("q", "v")
SAMPLES_PER_TENSOR = 4


# --------------------------------------------------------------------------- LoRA parameters

def lora_shapes(cfg):
    """in/out features of each target: q (D -> H*hd), v (D -> Hkv*hd)."""
    D, hd = cfg["n_embd"], cfg["head_dim"]
    return {"q": (D, cfg["n_head"] * hd), "v": (D, cfg["n_head_kv"] * hd)}


def make_lora(cfg, seed):
    """A (r, in) ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming_uniform_(a=sqrt(5)): gain sqrt(2/(1+5)) = sqrt(1/3),
    bound gain*sqrt(3/in) = 1/sqrt(in)); B (out, r) ~ N(0, B_STD²). Both rounded to float32, returned as float64."""
    rng = np.random.default_rng(seed)
    shapes = lora_shapes(cfg)
    lora = []
    for _ in range(cfg["n_layer"]):
        layer = {}
        for t in TARGETS:
            fan_in, out = shapes[t]
            bound = 1.0 / math.sqrt(fan_in)
            a = rng.uniform(-bound, bound, size=(RANK, fan_in)).astype(np.float32).astype(np.float64)
            b = (rng.standard_normal(size=(out, RANK)) * B_STD).astype(np.float32).astype(np.float64)
            layer[t] = {"A": a, "B": b}
        lora.append(layer)
    return lora


def peft_key(layer, target, which):
    return f"base_model.model.model.layers.{layer}.self_attn.{target}_proj.lora_{which}.weight"


def write_adapter(lora, out_dir):
    """PEFT adapter directory: adapter_config.json (sorted keys, as PEFT writes it) and adapter_model.safetensors
    (F32, header padded to 8 bytes as the safetensors package does)."""
    os.makedirs(out_dir, exist_ok=True)
    config = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
        "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
        "lora_alpha": int(ALPHA), "lora_dropout": 0.0, "megatron_config": None, "megatron_core": "megatron.core",
        "modules_to_save": None, "peft_type": "LORA", "r": RANK, "rank_pattern": {}, "revision": None,
        "target_modules": [f"{t}_proj" for t in TARGETS], "task_type": "CAUSAL_LM", "use_dora": False,
        "use_rslora": False,
    }
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    header, blobs, offset = {}, [], 0
    for i, layer in enumerate(lora):
        for t in TARGETS:
            for which in ("A", "B"):
                arr = layer[t][which].astype("<f4")
                blob = arr.tobytes()
                header[peft_key(i, t, which)] = {"dtype": "F32", "shape": list(arr.shape),
                                                 "data_offsets": [offset, offset + len(blob)]}
                blobs.append(blob)
                offset += len(blob)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(out_dir, "adapter_model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# --------------------------------------------------------------------------- forward / backward pieces

def rms_forward(x, w, eps):
    """y = x * w / r, r = sqrt(mean(x²) + eps). x (T, D). Returns y and r (T, 1)."""
    r = np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return x * w / r, r


def rms_backward(x, w, r, dy):
    """dx = w·dy / r − x · Σ(w·dy·x) / (D r³)."""
    D = x.shape[-1]
    wdy = w * dy
    return wdy / r - x * np.sum(wdy * x, axis=-1, keepdims=True) / (D * r ** 3)


def rope_forward(x, cos, sin):
    """rotate_half rotary: x (T, H, d)."""
    return R.rope_half(x, cos, sin)


def rope_backward(dy, cos, sin):
    """The rotation's transpose: rotary by the negative angle."""
    return R.rope_half(dy, cos, -sin)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def forward_backward(W, lora, ids, targets, scale, with_grad=True):
    """Loss (mean CE over targets != -1) and, with_grad, dA / dB per layer and target (same layout as `lora`)."""
    cfg = W.cfg
    T = len(ids)
    H, Hkv, hd, eps = cfg["n_head"], cfg["n_head_kv"], cfg["head_dim"], cfg["rms_eps"]
    group = H // Hkv
    cos, sin = R.rope_angles(T, hd, cfg["rope_base"])
    causal = np.triu(np.ones((T, T), dtype=bool), k=1)
    x = W.embed[np.asarray(ids)]  # (T, D)
    caches = []
    for L, lo in zip(W.layers, lora):
        c = {"x_in": x}
        h1, c["r1"] = rms_forward(x, L["attn_norm"], eps)  # (T, D)
        c["h1"] = h1
        q_pre = h1 @ L["wq"].T
        v_pre = h1 @ L["wv"].T
        if lo is not None:
            c["hq"] = h1 @ lo["q"]["A"].T  # (T, r)
            c["hv"] = h1 @ lo["v"]["A"].T
            q_pre = q_pre + scale * c["hq"] @ lo["q"]["B"].T
            v_pre = v_pre + scale * c["hv"] @ lo["v"]["B"].T
        q = rope_forward(q_pre.reshape(T, H, hd), cos, sin)  # (T, H, hd)
        k = rope_forward((h1 @ L["wk"].T).reshape(T, Hkv, hd), cos, sin)  # (T, Hkv, hd)
        v = v_pre.reshape(T, Hkv, hd)
        att = np.empty((T, H, hd))
        P = np.empty((H, T, T))
        for hh in range(H):
            kv = hh // group
            s = (q[:, hh, :] @ k[:, kv, :].T) / math.sqrt(hd)
            s[causal] = -np.inf
            s -= s.max(axis=-1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=-1, keepdims=True)
            P[hh] = p
            att[:, hh, :] = p @ v[:, kv, :]
        c.update(q=q, k=k, v=v, P=P, att=att.reshape(T, H * hd))
        x = x + c["att"] @ L["wo"].T
        c["x_mid"] = x
        h2, c["r2"] = rms_forward(x, L["ffn_norm"], eps)
        g, u = h2 @ L["gate"].T, h2 @ L["up"].T
        c.update(h2=h2, g=g, u=u)
        x = x + (R.silu(g) * u) @ L["down"].T
        caches.append(c)
    xf, rf = rms_forward(x, W.out_norm, eps)
    logits = xf @ W.lm_head.T  # (T, V)
    tg = np.asarray(targets)
    rows = np.nonzero(tg >= 0)[0]
    lse = R.logsumexp(logits[rows])
    loss = float(np.mean(lse - logits[rows, tg[rows]]))
    if not with_grad:
        return loss, None

    # d loss / d logits: (softmax − onehot) / N on the unmasked rows.
    dlogits = np.zeros_like(logits)
    probs = np.exp(logits[rows] - lse[:, None])
    probs[np.arange(len(rows)), tg[rows]] -= 1.0
    dlogits[rows] = probs / len(rows)
    dx = rms_backward(x, W.out_norm, rf, dlogits @ W.lm_head)
    grads = [None] * len(W.layers)
    for i in reversed(range(len(W.layers))):
        L, lo, c = W.layers[i], lora[i], caches[i]
        # MLP: x_out = x_mid + (silu(g) ⊙ u) Wdᵀ
        da = dx @ L["down"]
        sg = sigmoid(c["g"])
        dg = da * c["u"] * sg * (1.0 + c["g"] * (1.0 - sg))
        du = da * R.silu(c["g"])
        dh2 = dg @ L["gate"] + du @ L["up"]
        dx = dx + rms_backward(c["x_mid"], L["ffn_norm"], c["r2"], dh2)
        # attention: x_mid = x_in + att Woᵀ
        datt = (dx @ L["wo"]).reshape(T, H, hd)
        dq = np.zeros((T, H, hd))
        dk = np.zeros((T, Hkv, hd))
        dv = np.zeros((T, Hkv, hd))
        for hh in range(H):
            kv = hh // group
            p = c["P"][hh]
            dv[:, kv, :] += p.T @ datt[:, hh, :]
            dp = datt[:, hh, :] @ c["v"][:, kv, :].T
            ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True)) / math.sqrt(hd)
            dq[:, hh, :] = ds @ c["k"][:, kv, :]
            dk[:, kv, :] += ds.T @ c["q"][:, hh, :]
        dq_pre = rope_backward(dq, cos, sin).reshape(T, H * hd)
        dk_pre = rope_backward(dk, cos, sin).reshape(T, Hkv * hd)
        dv_pre = dv.reshape(T, Hkv * hd)
        dh1 = dq_pre @ L["wq"] + dk_pre @ L["wk"] + dv_pre @ L["wv"]
        g_layer = {}
        for t, dy, hid in (("q", dq_pre, c["hq"]), ("v", dv_pre, c["hv"])):
            A, B = lo[t]["A"], lo[t]["B"]
            dB = scale * dy.T @ hid  # (out, r)
            dhid = scale * dy @ B  # (T, r)
            dA = dhid.T @ c["h1"]  # (r, in)
            dh1 = dh1 + dhid @ A
            g_layer[t] = {"A": dA, "B": dB}
        grads[i] = g_layer
        dx = dx + rms_backward(c["x_in"], L["attn_norm"], c["r1"], dh1)
    return loss, grads


# --------------------------------------------------------------------------- checks and golden

def sequence(tok):
    ids = R.encode(tok, PROMPT + ANSWER)
    prompt_len = len(R.encode(tok, PROMPT))
    assert len(ids) == SEQUENCE_LENGTH, (len(ids), ids)
    assert R.encode(tok, PROMPT) == ids[:prompt_len]
    targets = [ids[t + 1] if t + 1 < len(ids) and t + 1 >= prompt_len else -1 for t in range(len(ids))]
    return ids, targets, prompt_len


def finite_difference_check(W, lora, ids, targets, scale, grads, step=1e-5):
    """Central differences on a few entries of A and B in three layers; returns the worst relative error."""
    rng = np.random.default_rng(7)
    worst = 0.0
    for layer in (0, len(lora) // 2, len(lora) - 1):
        for t in TARGETS:
            for which in ("A", "B"):
                m = lora[layer][t][which]
                g = grads[layer][t][which]
                # the entry with the largest gradient, plus one at random
                for flat in (int(np.argmax(np.abs(g))), int(rng.integers(g.size))):
                    idx = np.unravel_index(flat, m.shape)
                    old = m[idx]
                    m[idx] = old + step
                    lp, _ = forward_backward(W, lora, ids, targets, scale, with_grad=False)
                    m[idx] = old - step
                    lm, _ = forward_backward(W, lora, ids, targets, scale, with_grad=False)
                    m[idx] = old
                    fd = (lp - lm) / (2 * step)
                    err = abs(fd - g[idx]) / max(abs(g).max(), 1e-30)
                    worst = max(worst, err)
                    print(f"  fd layer {layer:2d} {t} {which} {idx}: analytic {g[idx]: .6e}  fd {fd: .6e}  "
                          f"err/max|g| {err:.1e}")
    return worst


def write_golden(path, ids, targets, prompt_len, loss, base_loss, grads, fd_worst):
    rng = np.random.default_rng(99)
    layers = []
    for i, gl in enumerate(grads):
        entry = {"layer": i}
        for t in TARGETS:
            for which in ("A", "B"):
                g = gl[t][which]
                picks = sorted(set(int(v) for v in rng.choice(g.size, size=SAMPLES_PER_TENSOR, replace=False)))
                entry[f"{t}_{which}"] = {
                    "shape": list(g.shape),
                    "frobenius": float(np.linalg.norm(g)),
                    "samples": [[p, float(g.flat[p])] for p in picks],
                }
        layers.append(entry)
    golden = {
        "description": "lora_reference.py: float64 gradients of one LoRA step on SmolLM2-135M-Instruct (Q4_1 GGUF)",
        "adapter_directory": os.path.basename(ADAPTER_DIR),
        "rank": RANK, "alpha": ALPHA, "scale": ALPHA / RANK, "targets": [f"{t}_proj" for t in TARGETS],
        "seed": SEED, "b_std": B_STD,
        "text": PROMPT + ANSWER, "prompt_tokens": prompt_len,
        "token_ids": ids, "targets": targets,
        "loss": loss, "loss_without_lora": base_loss,
        "finite_difference_worst_relative_error": fd_worst,
        "tolerance_note": "compare |swift - golden| <= 1e-3 * frobenius (entries) and 1e-3 relative (norms, loss)",
        "layers": layers,
    }
    with open(path, "w") as f:
        # one line per top-level key and per layer: small, and diffs stay readable when re-recorded
        f.write("{\n")
        items = [(k, v) for k, v in golden.items() if k != "layers"]
        for k, v in items:
            f.write(f" {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))},\n")
        f.write(' "layers": [\n')
        f.write(",\n".join("  " + json.dumps(layer, separators=(",", ":")) for layer in layers))
        f.write("\n ]\n}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=R.DEFAULT_GGUF)
    ap.add_argument("--check-fd", action="store_true", help="finite-difference check of the backward")
    ap.add_argument("--write", action="store_true", help="write the adapter directory and the golden JSON")
    args = ap.parse_args()

    t0 = time.time()
    reader = GGUFReader(args.gguf)
    tok = R.build_tokenizer(reader)
    W = R.Weights.from_gguf(reader, hf_layout=True)
    cfg = W.cfg
    ids, targets, prompt_len = sequence(tok)
    scale = ALPHA / RANK
    lora = make_lora(cfg, SEED)

    # Self-check: without LoRA the forward is llama_reference's.
    base_loss, _ = forward_backward(W, [None] * cfg["n_layer"], ids, targets, scale, with_grad=False)
    lg = R.forward(W, ids)
    rows = [t for t in range(len(ids)) if targets[t] >= 0]
    ref = float(np.mean([R.logsumexp(lg[t]) - lg[t, targets[t]] for t in rows]))
    assert abs(ref - base_loss) < 1e-9, (ref, base_loss)

    loss, grads = forward_backward(W, lora, ids, targets, scale)
    print(f"tokens {len(ids)} (prompt {prompt_len}, {len(rows)} targets); loss {loss:.8f} "
          f"(without LoRA {base_loss:.8f}) [{time.time() - t0:.1f}s]")
    for i in (0, cfg["n_layer"] - 1):
        print(f"  layer {i}: " + ", ".join(
            f"|d{t}{w}| {np.linalg.norm(grads[i][t][w]):.4e}" for t in TARGETS for w in ("A", "B")))
    fd_worst = None
    if args.check_fd:
        fd_worst = finite_difference_check(W, lora, ids, targets, scale, grads)
        print(f"finite differences: worst error relative to max|g| {fd_worst:.2e} [{time.time() - t0:.1f}s]")
        assert fd_worst < 1e-5, fd_worst
    if args.write:
        write_adapter(lora, ADAPTER_DIR)
        write_golden(GOLDEN, ids, targets, prompt_len, loss, base_loss, grads, fd_worst)
        print(f"wrote {ADAPTER_DIR} and {GOLDEN} [{time.time() - t0:.1f}s]")


if __name__ == "__main__":
    main()
