#!/usr/bin/env python3
"""Tiny seeded models (and their float64 goldens) for EdgeTune's model tests.

  /root/.cache/edgetune/venv/bin/python Tools/reference/make_tiny_models.py [--out DIR]

Writes into Tests/ModelTests/Fixtures/tiny/ (all deterministic: same bytes on every run):

  qwen2-hf/          Hugging Face directory, model_type qwen2 (q/k/v biases), untied lm_head, F32 safetensors
                     written by hand, tokenizer.json (byte-level BPE, Qwen2 Split+ByteLevel pre-tokenizer, NFC),
                     tokenizer_config.json with a ChatML template. vocab_size is 3 more than the tokenizer has
                     (real Qwen2 pads its embedding too).
  qwen2.tiny-gguf         the same weights as a qwen2-arch GGUF, all F32, Q/K NOT permuted (llama.cpp runs qwen2 with
                     NEOX rotary = HF's rotate_half layout), token list padded with [PADn] (type UNUSED) to vocab.
  llama-mixed.tiny-gguf   a llama-arch GGUF with Q/K rows permuted the llama.cpp way and matrices in a mix of types
                     (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F16, BF16, F32), F32 norms, untied output.weight, GPT-2
                     ByteLevel tokenizer. 6 heads of 16 on a hidden size of 64: the query width (96) differs from
                     the hidden size, so o_proj is (64, 96), not square.
  golden.json        per model: config, the tokenizer's ids for a short string, full logits at every position for
                     a fixed id list, greedy 8-token continuations with their top-1/top-2 margins; plus a chat
                     rendering of the ChatML template (jinja2 via the python3 on PATH, as transformers renders it).

The reference forward is float64 numpy, written independently of the Swift side:
  * qwen2: HF layout, rotate_half rotary, q/k/v biases, from the float32 weights exactly as stored;
  * llama: the DEQUANTIZED tensors read back from the written GGUF (gguf-py), Q/K used as stored (permuted) with
    llama.cpp's adjacent-pair rotary -- the independence trick of llama_reference.py. EdgeTune un-permutes and uses
    rotate_half, so a wrong permutation shows as a logit mismatch.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader, GGUFWriter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llama_reference import FIXTURES, dequant, rms_norm, rope_adjacent, rope_angles, rope_half, silu  # noqa: E402
from make_hf_copy import encode_tensor  # noqa: E402

OUT = os.path.join(FIXTURES, "tiny")
CORPUS = os.path.join(FIXTURES, "tokenizer_corpus.txt")
SPECIALS = ["<|im_start|>", "<|im_end|>"]
LEARNED_TOKENS = 296  # 256 bytes + 40 merges; + 2 specials = 298 tokens
TEXT = "<|im_start|>user\nHello, world! It's 2024 café.<|im_end|>\n"
CHAT_MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
# Split regex of Qwen2's tokenizer.json (EdgeTune recognizes it verbatim).
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
# Ids run through the forward pass: specials, bytes, merged tokens, and (qwen2) one padded embedding row.
FORWARD_IDS = {"qwen2": [296, 72, 101, 270, 32, 119, 297, 10, 300, 281, 44, 257],
               "llama": [296, 72, 101, 270, 32, 119, 297, 10, 0, 281, 44, 257]}
GREEDY_STEPS = 8

QWEN2 = dict(arch="qwen2", hidden=32, ff=56, layers=2, heads=4, kv_heads=2, head_dim=8, rope_theta=1_000_000.0,
             eps=1e-6, context=128, vocab_pad=3)
LLAMA = dict(arch="llama", hidden=64, ff=96, layers=2, heads=6, kv_heads=2, head_dim=16, rope_theta=10_000.0,
             eps=1e-5, context=128, vocab_pad=0)
# llama-mixed.tiny-gguf storage types; norms are F32. Every legacy block type, both halves and F32 appear.
LLAMA_TYPES = {
    "token_embd.weight": QT.Q8_0, "output.weight": QT.Q4_1,
    "blk.0.attn_q.weight": QT.Q4_0, "blk.0.attn_k.weight": QT.Q4_1, "blk.0.attn_v.weight": QT.Q5_0,
    "blk.0.attn_output.weight": QT.Q5_1, "blk.0.ffn_gate.weight": QT.F16, "blk.0.ffn_up.weight": QT.BF16,
    "blk.0.ffn_down.weight": QT.Q8_0,
    "blk.1.attn_q.weight": QT.Q5_1, "blk.1.attn_k.weight": QT.Q5_0, "blk.1.attn_v.weight": QT.Q4_1,
    "blk.1.attn_output.weight": QT.Q4_0, "blk.1.ffn_gate.weight": QT.BF16, "blk.1.ffn_up.weight": QT.F16,
    "blk.1.ffn_down.weight": QT.F32,
}


# --------------------------------------------------------------------------- tokenizer

def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map (ref: openai/gpt-2 encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def learn_bpe() -> tuple[list[str], list[tuple[str, str]]]:
    """Tokens in id order (the 256 bytes in byte order, then one per merge) and merges in rank order."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=LEARNED_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    with open(CORPUS, encoding="utf-8") as f:
        t.train_from_iterator(f.read().splitlines(), trainer)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1))
              for m in json.loads(t.to_str())["model"]["merges"]]
    tokens = [bytes_to_unicode()[b] for b in range(256)]
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    assert len(tokens) == LEARNED_TOKENS, len(tokens)
    return tokens, merges


def make_tokenizer(tokens, merges, qwen2: bool):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False,
                               byte_fallback=False))
    if qwen2:
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    assert tok.get_vocab_size() == LEARNED_TOKENS + len(SPECIALS)
    return tok


def render_chat() -> str:
    """The ChatML template rendered the transformers way (sandboxed jinja2, trim_blocks + lstrip_blocks)."""
    code = ("import json,sys\nfrom jinja2.sandbox import ImmutableSandboxedEnvironment\n"
            "a=json.load(sys.stdin)\n"
            "env=ImmutableSandboxedEnvironment(trim_blocks=True,lstrip_blocks=True)\n"
            "sys.stdout.write(env.from_string(a['t']).render(messages=a['m'],add_generation_prompt=True))\n")
    return subprocess.run(["python3", "-c", code], input=json.dumps({"t": CHATML, "m": CHAT_MESSAGES}),
                          capture_output=True, text=True, check=True).stdout


# --------------------------------------------------------------------------- weights

def random_weights(cfg: dict, vocab: int, seed: int) -> dict:
    """HF-named float32 weights, HF layout. Scales keep activations O(1) and logits O(few)."""
    rng = np.random.default_rng(seed)
    d, f, hd = cfg["hidden"], cfg["ff"], cfg["head_dim"]
    q, kv = cfg["heads"] * hd, cfg["kv_heads"] * hd

    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / math.sqrt(cols)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((vocab, d)).astype(np.float32)}
    for i in range(cfg["layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(d)
        w[p + "self_attn.q_proj.weight"] = mat(q, d, 2.0)
        w[p + "self_attn.k_proj.weight"] = mat(kv, d, 2.0)
        w[p + "self_attn.v_proj.weight"] = mat(kv, d)
        w[p + "self_attn.o_proj.weight"] = mat(d, q)
        if cfg["arch"] == "qwen2":
            for name, n in [("q_proj", q), ("k_proj", kv), ("v_proj", kv)]:
                w[p + f"self_attn.{name}.bias"] = (0.5 * rng.standard_normal(n)).astype(np.float32)
        w[p + "post_attention_layernorm.weight"] = norm(d)
        w[p + "mlp.gate_proj.weight"] = mat(f, d)
        w[p + "mlp.up_proj.weight"] = mat(f, d)
        w[p + "mlp.down_proj.weight"] = mat(d, f)
    w["model.norm.weight"] = norm(d)
    w["lm_head.weight"] = mat(vocab, d, 3.0)
    return w


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf LlamaModel.permute: HF row h*hd + j*hd/2 + i -> GGUF row h*hd + 2i + j."""
    rows, cols = w.shape
    hd = rows // n_head
    return w.reshape(n_head, 2, hd // 2, cols).swapaxes(1, 2).reshape(rows, cols)


GGUF_NAMES = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
              "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
              "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
              "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
              "self_attn.v_proj.bias": "attn_v.bias", "mlp.gate_proj.weight": "ffn_gate.weight",
              "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight"}


def gguf_name(hf: str) -> str:
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}
    if hf in top:
        return top[hf]
    parts = hf.split(".")
    return f"blk.{parts[2]}." + GGUF_NAMES[".".join(parts[3:])]


# --------------------------------------------------------------------------- writers

def write_safetensors(path: str, tensors: dict) -> None:
    """F32 safetensors by hand: u64 header length, compact JSON header (8-byte padded), raw data."""
    header, off = {}, 0
    for name, w in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(w.shape), "data_offsets": [off, off + w.size * 4]}
        off += w.size * 4
    header["__metadata__"] = {"format": "pt"}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(hb).to_bytes(8, "little"))
        f.write(hb)
        for w in tensors.values():
            f.write(encode_tensor(w, "F32"))


def write_qwen2_hf(out_dir: str, cfg: dict, weights: dict, tok, vocab: int) -> None:
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), weights)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    im_end = tok.token_to_id("<|im_end|>")
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": cfg["hidden"],
        "intermediate_size": cfg["ff"], "num_hidden_layers": cfg["layers"], "num_attention_heads": cfg["heads"],
        "num_key_value_heads": cfg["kv_heads"], "hidden_act": "silu", "rms_norm_eps": cfg["eps"],
        "rope_theta": cfg["rope_theta"], "rope_scaling": None, "max_position_embeddings": cfg["context"],
        "vocab_size": vocab, "tie_word_embeddings": False, "use_sliding_window": False, "bos_token_id": None,
        "eos_token_id": im_end, "torch_dtype": "float32",
    }
    added = {str(tok.token_to_id(s)): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                       "single_word": False, "special": True} for s in SPECIALS}
    tok_cfg = {"add_prefix_space": False, "added_tokens_decoder": added, "bos_token": None, "eos_token": "<|im_end|>",
               "pad_token": "<|im_end|>", "chat_template": CHATML, "clean_up_tokenization_spaces": False,
               "model_max_length": cfg["context"], "tokenizer_class": "Qwen2Tokenizer"}
    for name, obj in [("config.json", config), ("tokenizer_config.json", tok_cfg)]:
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False)
            f.write("\n")


def write_gguf(path: str, cfg: dict, weights: dict, tokens: list[str], merges, types: dict, pre: str) -> None:
    """A GGUF with llama.cpp's metadata keys. Q/K permuted for llama only; `types` picks storage per tensor."""
    arch, vocab = cfg["arch"], weights["model.embed_tokens.weight"].shape[0]
    w = GGUFWriter(path, arch)
    w.add_name(f"edgetune-tiny-{arch}")
    w.add_context_length(cfg["context"])
    w.add_embedding_length(cfg["hidden"])
    w.add_feed_forward_length(cfg["ff"])
    w.add_block_count(cfg["layers"])
    w.add_head_count(cfg["heads"])
    w.add_head_count_kv(cfg["kv_heads"])
    w.add_key_length(cfg["head_dim"])
    w.add_value_length(cfg["head_dim"])
    w.add_rope_dimension_count(cfg["head_dim"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["eps"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if arch == "llama" else gguf.LlamaFileType.ALL_F32)
    padded = tokens + [f"[PAD{i}]" for i in range(len(tokens), vocab)]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(padded)
    w.add_token_types([int(gguf.TokenType.CONTROL) if t in SPECIALS else
                       int(gguf.TokenType.UNUSED) if i >= len(tokens) else int(gguf.TokenType.NORMAL)
                       for i, t in enumerate(padded)])
    w.add_token_merges([f"{a} {b}" for a, b in merges])
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)
    for hf, t in weights.items():
        name = gguf_name(hf)
        if arch == "llama" and name.endswith(("attn_q.weight", "attn_k.weight")):
            t = permute_qk(t, cfg["heads"] if "attn_q" in name else cfg["kv_heads"])
        qtype = types.get(name, QT.F32)
        if qtype == QT.F32:
            w.add_tensor(name, np.ascontiguousarray(t, dtype=np.float32))
        elif qtype == QT.F16:
            w.add_tensor(name, t.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(t, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# --------------------------------------------------------------------------- reference forward

def read_gguf_weights(path: str) -> dict:
    """Every tensor of a GGUF dequantized to float64, numpy (out, in) shapes, GGUF names (Q/K as stored)."""
    return {t.name: dequant(t).astype(np.float64) for t in GGUFReader(path).tensors}


def forward(cfg: dict, w: dict, ids, rope: str) -> np.ndarray:
    """Causal forward over positions 0..T-1, float64. `w` uses GGUF names. rope: 'half' (HF) or 'adjacent'."""
    T, H, Hkv, hd, eps = len(ids), cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["eps"]
    cos, sin = rope_angles(T, hd, cfg["rope_theta"])
    rot = rope_half if rope == "half" else rope_adjacent
    masked = np.triu(np.ones((T, T), dtype=bool), k=1)
    x = w["token_embd.weight"][np.asarray(ids)]  # (T, d)
    for i in range(cfg["layers"]):
        g = lambda n: w[f"blk.{i}.{n}"]
        bias = lambda n: w.get(f"blk.{i}.{n}.bias", 0.0)
        h = rms_norm(x, g("attn_norm.weight"), eps)
        q = rot((h @ g("attn_q.weight").T + bias("attn_q")).reshape(T, H, hd), cos, sin)
        k = rot((h @ g("attn_k.weight").T + bias("attn_k")).reshape(T, Hkv, hd), cos, sin)
        v = (h @ g("attn_v.weight").T + bias("attn_v")).reshape(T, Hkv, hd)
        att = np.empty((T, H, hd))
        for hh in range(H):
            kvh = hh // (H // Hkv)
            s = (q[:, hh, :] @ k[:, kvh, :].T) / math.sqrt(hd)
            s[masked] = -np.inf
            p = np.exp(s - s.max(axis=-1, keepdims=True))
            att[:, hh, :] = (p / p.sum(axis=-1, keepdims=True)) @ v[:, kvh, :]
        x = x + att.reshape(T, H * hd) @ g("attn_output.weight").T
        h = rms_norm(x, g("ffn_norm.weight"), eps)
        x = x + (silu(h @ g("ffn_gate.weight").T) * (h @ g("ffn_up.weight").T)) @ g("ffn_down.weight").T
    return rms_norm(x, w["output_norm.weight"], eps) @ w["output.weight"].T


def f32(x) -> float:
    """The shortest decimal that round-trips to float32(x)."""
    return float(repr(np.float32(x)).replace("np.float32(", "").rstrip(")"))


def golden_entry(name, paths, cfg, w, rope, tok, vocab) -> dict:
    ids = FORWARD_IDS[cfg["arch"]]
    logits = forward(cfg, w, ids, rope)
    seq, gen, margins = list(ids), [], []
    for _ in range(GREEDY_STEPS):
        last = forward(cfg, w, seq, rope)[-1]
        top2 = np.sort(last)[-2:]
        margins.append(round(float(top2[1] - top2[0]), 5))
        gen.append(int(np.argmax(last)))
        seq.append(gen[-1])
    assert gen[0] == int(np.argmax(logits[-1]))
    print(f"{name}: |logit| max {np.abs(logits).max():.2f}, greedy {gen}, smallest top-2 margin {min(margins)}")
    return {
        "name": name, "paths": paths,
        "config": {"architecture": cfg["arch"], "hidden_size": cfg["hidden"], "intermediate_size": cfg["ff"],
                   "layer_count": cfg["layers"], "head_count": cfg["heads"], "kv_head_count": cfg["kv_heads"],
                   "head_dim": cfg["head_dim"], "vocabulary_size": vocab, "context_length": cfg["context"],
                   "rope_theta": cfg["rope_theta"], "rms_norm_epsilon": cfg["eps"]},
        "text_ids": tok.encode(TEXT, add_special_tokens=False).ids,
        "token_ids": ids,
        "logits": [[f32(v) for v in row] for row in logits],
        "greedy": {"prompt_ids": ids, "generated_ids": gen, "top2_margins": margins},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    learned, merges = learn_bpe()
    tokens = learned + SPECIALS

    # qwen2: one set of weights, two files; the reference uses the float32 values as stored.
    qtok = make_tokenizer(learned, merges, qwen2=True)
    qvocab = len(tokens) + QWEN2["vocab_pad"]
    qw = random_weights(QWEN2, qvocab, seed=20240605)
    write_qwen2_hf(os.path.join(out, "qwen2-hf"), QWEN2, qw, qtok, qvocab)
    write_gguf(os.path.join(out, "qwen2.tiny-gguf"), QWEN2, qw, tokens, merges, {}, pre="qwen2")
    qref = {gguf_name(k): v.astype(np.float64) for k, v in qw.items()}
    assert all(np.array_equal(qref[k], v) for k, v in read_gguf_weights(os.path.join(out, "qwen2.tiny-gguf")).items())

    # llama: the reference reads back the dequantized GGUF tensors, Q/K permuted as stored.
    ltok = make_tokenizer(learned, merges, qwen2=False)
    lw = random_weights(LLAMA, len(tokens), seed=20240602)
    lpath = os.path.join(out, "llama-mixed.tiny-gguf")
    write_gguf(lpath, LLAMA, lw, tokens, merges, LLAMA_TYPES, pre="gpt2")
    lref = read_gguf_weights(lpath)
    stored = {t.name: t.tensor_type.name for t in GGUFReader(lpath).tensors}
    assert all(stored[k] == v.name for k, v in LLAMA_TYPES.items()), stored
    # negative control: the permuted weights with HF's rotary must give different logits
    ids = FORWARD_IDS["llama"]
    assert np.abs(forward(LLAMA, lref, ids, "adjacent") - forward(LLAMA, lref, ids, "half")).max() > 1e-2

    golden = {
        "text": TEXT,
        "chat": {"messages": CHAT_MESSAGES, "rendered": render_chat()},
        "models": [
            golden_entry("qwen2", ["qwen2-hf", "qwen2.tiny-gguf"], QWEN2, qref, "half", qtok, qvocab),
            golden_entry("llama-mixed", ["llama-mixed.tiny-gguf"], LLAMA, lref, "adjacent", ltok, len(tokens)),
        ],
    }
    with open(os.path.join(out, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    for root, _, files in sorted(os.walk(out)):
        for fn in sorted(files):
            p = os.path.join(root, fn)
            print(f"{os.path.relpath(p, out):32s} {os.path.getsize(p) / 1024:7.1f} KB")


if __name__ == "__main__":
    main()
