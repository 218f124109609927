#!/usr/bin/env python3
"""Independent numpy reference for EdgeTune's Llama forward pass.

Reads the GGUF directly (weights dequantized with the `gguf` package) and runs a
plain float64 Llama forward. Deliberately written the *other* way round from the
Swift side:

  * GGUF layout (default): attn_q / attn_k rows are used AS STORED by llama.cpp's
    converter (rows permuted so that rotary pairs are adjacent), and the rotary
    embedding rotates adjacent pairs (2i, 2i+1) -- llama.cpp's ggml_rope mode 0.
  * HF layout: Q/K rows un-permuted to Hugging Face order and rotary uses
    rotate_half (pairs (i, i + head_dim/2)). That is what EdgeTune's Swift model
    does; here it only serves as a self-check (`--self-check`) and to validate a
    Hugging Face safetensors copy (`--check-hf DIR`).

Both layouts must give the same logits (to float64 rounding).

Usage:
  python3 llama_reference.py [--gguf PATH] --self-check
  python3 llama_reference.py [--gguf PATH] --check-hf HF_DIR
  python3 llama_reference.py [--gguf PATH] --write-golden [--out FILE]
  python3 llama_reference.py [--gguf PATH] --prompt "text" [--generate N]

Only numpy, gguf and tokenizers are imported at module level (make_hf_copy.py
imports this module in CI); jinja2 is imported lazily for chat rendering.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import gguf
from gguf import GGUFReader

DEFAULT_GGUF = os.path.expanduser("~/.cache/edgetune/models/SmolLM2-135M-Instruct.Q4_1.gguf")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, "Tests", "ModelTests", "Fixtures")
GOLDEN = os.path.join(FIXTURES, "smollm2_reference.json")
EVAL_TEXT = os.path.join(FIXTURES, "eval_text.txt")

CHAT_MESSAGES = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
SAMPLE_STRIDE = 61
SAMPLE_COUNT = 800
TOP_K = 10
GREEDY_STEPS = 20
EVAL_CONTEXT = 128


# --------------------------------------------------------------------------- GGUF metadata

def field(reader: GGUFReader, key: str, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def read_config(reader: GGUFReader) -> dict:
    arch = field(reader, "general.architecture")
    if arch != "llama":
        raise SystemExit(f"unsupported architecture {arch!r}")
    n_embd = int(field(reader, "llama.embedding_length"))
    n_head = int(field(reader, "llama.attention.head_count"))
    tokens = field(reader, "tokenizer.ggml.tokens")
    cfg = {
        "n_layer": int(field(reader, "llama.block_count")),
        "n_embd": n_embd,
        "n_ff": int(field(reader, "llama.feed_forward_length")),
        "n_head": n_head,
        "n_head_kv": int(field(reader, "llama.attention.head_count_kv", n_head)),
        "head_dim": int(field(reader, "llama.rope.dimension_count", n_embd // n_head)),
        "rope_base": float(field(reader, "llama.rope.freq_base", 10000.0)),
        "rms_eps": float(field(reader, "llama.attention.layer_norm_rms_epsilon")),
        "n_ctx": int(field(reader, "llama.context_length", 2048)),
        "n_vocab": int(field(reader, "llama.vocab_size", len(tokens))),
        "bos_id": field(reader, "tokenizer.ggml.bos_token_id"),
        "eos_id": field(reader, "tokenizer.ggml.eos_token_id"),
        "unk_id": field(reader, "tokenizer.ggml.unknown_token_id"),
        "pad_id": field(reader, "tokenizer.ggml.padding_token_id"),
        "add_bos": bool(field(reader, "tokenizer.ggml.add_bos_token", False)),
    }
    assert cfg["head_dim"] * n_head == n_embd, "rope dimension_count != head dim (partial rotary unsupported)"
    return cfg


def tensor_map(reader: GGUFReader) -> dict:
    return {t.name: t for t in reader.tensors}


def dequant(t) -> np.ndarray:
    """Dequantize one GGUF tensor to float32 with numpy shape = reversed GGUF shape
    (GGUF [576, 49152] -> numpy (49152, 576): 49152 rows of 576)."""
    w = gguf.quants.dequantize(t.data, t.tensor_type)
    shape = tuple(int(d) for d in reversed(t.shape))
    return np.asarray(w, dtype=np.float32).reshape(shape)


def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's convert permutation of attn_q / attn_k rows.

    convert_hf_to_gguf does w.reshape(n_head, 2, hd//2, in).swapaxes(1, 2):
    HF row h*hd + j*(hd/2) + i  ->  GGUF row h*hd + 2*i + j.  This is the inverse."""
    rows, cols = w.shape
    hd = rows // n_head
    return w.reshape(n_head, hd // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


# --------------------------------------------------------------------------- tokenizer

def build_tokenizer(reader: GGUFReader):
    """HF `tokenizers.Tokenizer` equivalent to llama.cpp's gpt2/smollm tokenizer."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    model_kind = field(reader, "tokenizer.ggml.model")
    if model_kind != "gpt2":
        raise SystemExit(f"unsupported tokenizer model {model_kind!r}")
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field(reader, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    pre = field(reader, "tokenizer.ggml.pre", "default")
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if pre == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), bl])
    else:
        tok.pre_tokenizer = bl
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    # token_type 3 = CONTROL (special), 4 = USER_DEFINED (added, not special)
    added = [AddedToken(tokens[i], special=(ty == 3), normalized=False)
             for i, ty in enumerate(types) if ty in (3, 4)]
    tok.add_tokens(added)
    return tok


def encode(tok, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False).ids


def render_chat(reader: GGUFReader, messages, add_generation_prompt=True) -> str:
    """Render with the GGUF's chat template the way transformers does
    (sandboxed jinja2, trim_blocks + lstrip_blocks)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    import jinja2.ext

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    tokens = field(reader, "tokenizer.ggml.tokens")
    cfg = read_config(reader)
    tmpl = env.from_string(field(reader, "tokenizer.chat_template"))
    return tmpl.render(messages=messages, add_generation_prompt=add_generation_prompt,
                       bos_token=tokens[cfg["bos_id"]], eos_token=tokens[cfg["eos_id"]])


# --------------------------------------------------------------------------- weights

class Weights:
    """float64 weights, numpy (out, in) matrices. `rope` is 'adjacent' (GGUF
    layout, ggml_rope mode 0) or 'half' (HF layout, rotate_half)."""

    def __init__(self, cfg, embed, layers, out_norm, rope, lm_head=None):
        self.cfg, self.embed, self.layers, self.out_norm, self.rope = cfg, embed, layers, out_norm, rope
        self.lm_head = embed if lm_head is None else lm_head

    @classmethod
    def from_gguf(cls, reader: GGUFReader, hf_layout=False) -> "Weights":
        cfg = read_config(reader)
        tm = tensor_map(reader)
        f64 = lambda name: dequant(tm[name]).astype(np.float64)
        layers = []
        for i in range(cfg["n_layer"]):
            p = f"blk.{i}."
            wq, wk = f64(p + "attn_q.weight"), f64(p + "attn_k.weight")
            if hf_layout:
                wq, wk = unpermute_qk(wq, cfg["n_head"]), unpermute_qk(wk, cfg["n_head_kv"])
            layers.append(dict(
                attn_norm=f64(p + "attn_norm.weight"), wq=wq, wk=wk,
                wv=f64(p + "attn_v.weight"), wo=f64(p + "attn_output.weight"),
                ffn_norm=f64(p + "ffn_norm.weight"), gate=f64(p + "ffn_gate.weight"),
                up=f64(p + "ffn_up.weight"), down=f64(p + "ffn_down.weight")))
        embed = f64("token_embd.weight")
        lm_head = f64("output.weight") if "output.weight" in tm else None
        return cls(cfg, embed, layers, f64("output_norm.weight"), "half" if hf_layout else "adjacent", lm_head)

    @classmethod
    def from_hf_dir(cls, hf_dir: str, cfg: dict) -> "Weights":
        t = load_safetensors_dir(hf_dir)
        g = lambda name: t[name].astype(np.float64)
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
        lm_head = g("lm_head.weight") if "lm_head.weight" in t else None
        return cls(cfg, g("model.embed_tokens.weight"), layers, g("model.norm.weight"), "half", lm_head)


_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64}


def load_safetensors(path: str) -> dict:
    """Minimal hand-written safetensors reader (returns float32 arrays)."""
    out = {}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = np.frombuffer(mm[a:b], dtype=_ST_DTYPES[info["dtype"]])
        if info["dtype"] == "BF16":
            arr = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = raw.astype(np.float32)
        out[name] = arr.reshape(info["shape"])
    return out


def load_safetensors_dir(hf_dir: str) -> dict:
    idx = os.path.join(hf_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        files = sorted(set(json.load(open(idx))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for fn in files:
        out.update(load_safetensors(os.path.join(hf_dir, fn)))
    return out


# --------------------------------------------------------------------------- forward

def rms_norm(x, w, eps):
    return x * w / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def rope_angles(n_pos, head_dim, base):
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)  # (hd/2,)
    ang = np.arange(n_pos, dtype=np.float64)[:, None] * inv_freq[None, :]      # (T, hd/2)
    return np.cos(ang), np.sin(ang)


def rope_adjacent(x, cos, sin):
    """ggml_rope mode 0: rotate pairs (2i, 2i+1) by angle pos * base^(-2i/d). x: (T, H, d)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def rope_half(x, cos, sin):
    """HF rotate_half: pairs (i, i + d/2)."""
    d2 = x.shape[-1] // 2
    c = np.concatenate([cos, cos], axis=-1)[:, None, :]
    s = np.concatenate([sin, sin], axis=-1)[:, None, :]
    rot = np.concatenate([-x[..., d2:], x[..., :d2]], axis=-1)
    return x * c + rot * s


def silu(x):
    return x / (1.0 + np.exp(-x))


def forward(W: Weights, ids) -> np.ndarray:
    """Full causal forward over `ids` (positions 0..T-1). Returns (T, vocab) float64 logits."""
    cfg = W.cfg
    T = len(ids)
    H, Hkv, hd, eps = cfg["n_head"], cfg["n_head_kv"], cfg["head_dim"], cfg["rms_eps"]
    group = H // Hkv
    cos, sin = rope_angles(T, hd, cfg["rope_base"])
    rope = rope_adjacent if W.rope == "adjacent" else rope_half
    causal = np.triu(np.ones((T, T), dtype=bool), k=1)  # True = masked (future)
    x = W.embed[np.asarray(ids)]                            # (T, D)
    for L in W.layers:
        h = rms_norm(x, L["attn_norm"], eps)
        q = rope((h @ L["wq"].T).reshape(T, H, hd), cos, sin)
        k = rope((h @ L["wk"].T).reshape(T, Hkv, hd), cos, sin)
        v = (h @ L["wv"].T).reshape(T, Hkv, hd)
        att = np.empty((T, H, hd))
        for hh in range(H):
            kv = hh // group
            scores = (q[:, hh, :] @ k[:, kv, :].T) / math.sqrt(hd)
            scores[causal] = -np.inf
            scores -= scores.max(axis=-1, keepdims=True)
            p = np.exp(scores)
            p /= p.sum(axis=-1, keepdims=True)
            att[:, hh, :] = p @ v[:, kv, :]
        x = x + att.reshape(T, H * hd) @ L["wo"].T
        h = rms_norm(x, L["ffn_norm"], eps)
        x = x + (silu(h @ L["gate"].T) * (h @ L["up"].T)) @ L["down"].T
    x = rms_norm(x, W.out_norm, eps)
    return x @ W.lm_head.T


def logsumexp(z, axis=-1):
    m = z.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def greedy(W: Weights, prompt_ids, steps, margins=None):
    """Greedy argmax, full recompute each step, no stopping. If `margins` is a list,
    the top-1 minus top-2 logit gap of every step is appended to it."""
    ids = list(prompt_ids)
    out = []
    for _ in range(steps):
        last = forward(W, ids)[-1]
        nxt = int(np.argmax(last))
        if margins is not None:
            a, b = np.sort(last)[-2:][::-1]
            margins.append(float(a - b))
        out.append(nxt)
        ids.append(nxt)
    return out


def evaluate(W: Weights, ids, context):
    """Mean next-token cross-entropy over consecutive non-overlapping windows."""
    total, count = 0.0, 0
    for start in range(0, len(ids), context):
        win = ids[start:start + context]
        if len(win) < 2:
            continue
        lg = forward(W, win)[:-1]
        tgt = np.asarray(win[1:])
        total += float(np.sum(logsumexp(lg) - lg[np.arange(len(tgt)), tgt]))
        count += len(tgt)
    mean = total / count
    return {"tokens": len(ids), "predicted": count, "mean_loss": mean, "perplexity": math.exp(mean)}


# --------------------------------------------------------------------------- CLI actions

def f32(x) -> float:
    """Round to float32 and return the shortest decimal that round-trips to that float32."""
    return float(repr(np.float32(x)).replace("np.float32(", "").rstrip(")"))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def chat_prompt(reader, tok):
    rendered = render_chat(reader, CHAT_MESSAGES, add_generation_prompt=True)
    return rendered, encode(tok, rendered)


def self_check(reader, tok):
    rendered, ids = chat_prompt(reader, tok)
    t0 = time.time()
    a = forward(Weights.from_gguf(reader, hf_layout=False), ids)
    b = forward(Weights.from_gguf(reader, hf_layout=True), ids)
    d = float(np.max(np.abs(a - b)))
    # negative control: the same weights with the *other* rotary convention must disagree
    wrong = Weights.from_gguf(reader, hf_layout=False)
    wrong.rope = "half"
    dneg = float(np.max(np.abs(a - forward(wrong, ids))))
    print(f"self-check: negative control (GGUF layout + rotate_half) max |dlogit| = {dneg:.2f} (must be large)")
    assert d < 1e-6 and dneg > 1e-2, (d, dneg)
    print(f"self-check: {len(ids)} tokens, GGUF layout + adjacent rope vs un-permuted + rotate_half: "
          f"max |dlogit| = {d:.3e} (max |logit| {np.max(np.abs(a)):.2f}) [{time.time()-t0:.1f}s]")
    # digit splitting sanity check (smollm pre-tokenizer)
    pieces = tok.encode("in 2024, 3.14", add_special_tokens=False).tokens
    print("tokenizer: 'in 2024, 3.14' ->", pieces)
    return d


def check_hf(reader, tok, hf_dir):
    cfg = read_config(reader)
    rendered, ids = chat_prompt(reader, tok)
    a = forward(Weights.from_gguf(reader), ids)
    b = forward(Weights.from_hf_dir(hf_dir, cfg), ids)
    d = float(np.max(np.abs(a - b)))
    print(f"check-hf: {hf_dir}: GGUF (permuted, adjacent rope) vs HF copy (rotate_half): "
          f"max |dlogit| = {d:.3e}, argmax equal at all positions: "
          f"{bool(np.all(a.argmax(-1) == b.argmax(-1)))}")
    hf_tok_path = os.path.join(hf_dir, "tokenizer.json")
    if os.path.exists(hf_tok_path):
        from tokenizers import Tokenizer
        t2 = Tokenizer.from_file(hf_tok_path)
        same = t2.encode(rendered, add_special_tokens=False).ids == ids
        print(f"check-hf: tokenizer.json encodes the chat prompt identically: {same}")
    return d


def write_golden(reader, tok, gguf_path, out_path):
    t0 = time.time()
    W = Weights.from_gguf(reader)
    rendered, ids = chat_prompt(reader, tok)
    logits = forward(W, ids)
    V = logits.shape[1]
    sample_ids = list(range(0, SAMPLE_STRIDE * SAMPLE_COUNT, SAMPLE_STRIDE))
    assert sample_ids[-1] < V
    top = []
    for row in logits:
        order = np.argsort(-row, kind="stable")[:TOP_K]
        top.append([[int(i), f32(row[i])] for i in order])
    chat = {
        "messages": CHAT_MESSAGES,
        "rendered": rendered,
        "token_ids": ids,
        "sample_ids": sample_ids,
        "logits": [[f32(v) for v in row[sample_ids]] for row in logits],
        "top": top,
        "logsumexp": [f32(v) for v in logsumexp(logits)],
        "max_abs": [f32(v) for v in np.max(np.abs(logits), axis=-1)],
    }
    print(f"chat: {len(ids)} tokens, forward done [{time.time()-t0:.1f}s]")

    margins = []
    gen = greedy(W, ids, GREEDY_STEPS, margins)
    # consistency: first greedy step == argmax of the chat logits at the last position
    assert gen[0] == int(np.argmax(logits[-1]))
    gen_text = tok.decode(gen, skip_special_tokens=False)
    print(f"greedy: {gen} -> {gen_text!r} [{time.time()-t0:.1f}s]")
    print(f"greedy: smallest top1-top2 logit margin {min(margins):.4f} at step {int(np.argmin(margins))}")

    text = open(EVAL_TEXT, encoding="utf-8").read()
    ev = evaluate(W, encode(tok, text), EVAL_CONTEXT)
    print(f"eval: {ev} [{time.time()-t0:.1f}s]")

    golden = {
        "model_sha256": sha256(gguf_path),
        "chat": chat,
        "greedy": {"prompt_ids": ids, "generated_ids": gen, "generated_text": gen_text,
                   "top2_margins": [round(m, 5) for m in margins]},
        "eval": {"text_file": os.path.basename(EVAL_TEXT), "context": EVAL_CONTEXT, **ev},
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(golden, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out_path} ({os.path.getsize(out_path)/1024:.0f} KB) [{time.time()-t0:.1f}s]")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--self-check", action="store_true",
                    help="compare GGUF-layout/adjacent-rope logits with un-permuted/rotate_half logits")
    ap.add_argument("--check-hf", metavar="DIR", help="compare logits against a HF safetensors copy in DIR")
    ap.add_argument("--write-golden", action="store_true")
    ap.add_argument("--out", default=GOLDEN)
    ap.add_argument("--prompt", help="raw text prompt: print top-5 of the last position")
    ap.add_argument("--generate", type=int, default=0)
    args = ap.parse_args()

    reader = GGUFReader(args.gguf)
    tok = build_tokenizer(reader)
    did = False
    if args.self_check:
        self_check(reader, tok); did = True
    if args.check_hf:
        check_hf(reader, tok, args.check_hf); did = True
    if args.write_golden:
        write_golden(reader, tok, args.gguf, args.out); did = True
    if args.prompt is not None:
        W = Weights.from_gguf(reader)
        ids = encode(tok, args.prompt)
        last = forward(W, ids)[-1]
        for i in np.argsort(-last)[:5]:
            print(f"{int(i):6d} {last[i]:10.4f} {tok.decode([int(i)], skip_special_tokens=False)!r}")
        if args.generate:
            print(repr(tok.decode(greedy(W, ids, args.generate), skip_special_tokens=False)))
        did = True
    if not did:
        ap.print_help()


if __name__ == "__main__":
    main()
