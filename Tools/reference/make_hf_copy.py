#!/usr/bin/env python3
"""Independent GGUF -> Hugging Face (LlamaForCausalLM) directory converter.

  python3 make_hf_copy.py GGUF OUT_DIR [--shards N] [--dtype F32|F16|BF16] [--force]

Plain numpy + gguf + tokenizers: no torch, transformers or safetensors package.
Safetensors is written by hand (u64 little-endian header length, JSON header with
dtype/shape/data_offsets and __metadata__ {"format": "pt"}, then the raw data),
tensor by tensor, so peak memory is about one dequantized tensor.

Q/K rows are un-permuted from llama.cpp's layout back to HF's (rotate_half) layout.
No lm_head is written (tie_word_embeddings = true) unless the GGUF has output.weight.

Writes: config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
special_tokens_map.json and model.safetensors (or model-0000K-of-0000N.safetensors +
model.safetensors.index.json). Skips the work if OUT_DIR already holds a complete
copy with the same dtype/shard count (config.json is written last), unless --force.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import gguf
from gguf import GGUFReader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_reference import build_tokenizer, dequant, field, read_config, unpermute_qk  # noqa: E402

CHUNK_ELEMS = 1 << 22  # dequantize at most ~4M values (16 MB float32) at a time
DTYPES = {"F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2)}


def hf_names(cfg, has_output):
    """Ordered (hf_name, gguf_name, unpermute_heads) triples."""
    out = [("model.embed_tokens.weight", "token_embd.weight", 0)]
    for i in range(cfg["n_layer"]):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        out += [
            (p + "input_layernorm.weight", b + "attn_norm.weight", 0),
            (p + "self_attn.q_proj.weight", b + "attn_q.weight", cfg["n_head"]),
            (p + "self_attn.k_proj.weight", b + "attn_k.weight", cfg["n_head_kv"]),
            (p + "self_attn.v_proj.weight", b + "attn_v.weight", 0),
            (p + "self_attn.o_proj.weight", b + "attn_output.weight", 0),
            (p + "post_attention_layernorm.weight", b + "ffn_norm.weight", 0),
            (p + "mlp.gate_proj.weight", b + "ffn_gate.weight", 0),
            (p + "mlp.up_proj.weight", b + "ffn_up.weight", 0),
            (p + "mlp.down_proj.weight", b + "ffn_down.weight", 0),
        ]
    out.append(("model.norm.weight", "output_norm.weight", 0))
    if has_output:
        out.append(("lm_head.weight", "output.weight", 0))
    return out


def encode_tensor(w: np.ndarray, dtype: str) -> bytes:
    w = np.ascontiguousarray(w, dtype=np.float32)
    if dtype == "F32":
        return w.astype("<f4").tobytes()
    if dtype == "F16":
        return w.astype("<f2").tobytes()
    # BF16: round-to-nearest-even on the upper 16 bits of the float32 pattern
    u = w.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(w)
    if nan.any():
        r[nan] = 0x7FC0
    return r.astype("<u2").tobytes()


def shard_plan(entries, n_shards):
    """Split the ordered tensor list into n_shards contiguous groups of ~equal bytes."""
    total = sum(e["nbytes"] for e in entries)
    n_shards = max(1, min(n_shards, len(entries)))
    groups, cur, acc = [], [], 0
    for e in entries:
        cur.append(e)
        acc += e["nbytes"]
        remaining_groups = n_shards - len(groups) - 1
        if remaining_groups > 0 and acc >= total * (len(groups) + 1) / n_shards:
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    return groups


def write_safetensors(path, group, tensors, dtype):
    header, off = {}, 0
    for e in group:
        header[e["name"]] = {"dtype": dtype, "shape": e["shape"], "data_offsets": [off, off + e["nbytes"]]}
        off += e["nbytes"]
    header["__metadata__"] = {"format": "pt"}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)  # pad so the data section is 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(hb).to_bytes(8, "little"))
        f.write(hb)
        for e in group:
            t = tensors[e["gguf"]]
            written = 0
            if e["unpermute"]:  # Q/K: small, needs whole head groups
                w = unpermute_qk(dequant(t), e["unpermute"])
                assert list(w.shape) == e["shape"], (e["name"], w.shape, e["shape"])
                written += f.write(encode_tensor(w, dtype))
            else:  # dequantize in row chunks to keep peak memory low (token_embd is 49152 rows)
                rows = t.data.shape[0] if t.data.ndim > 1 else 1
                step = max(1, CHUNK_ELEMS // max(1, e["shape"][-1]))
                for r0 in range(0, rows, step):
                    part = t.data[r0:r0 + step] if t.data.ndim > 1 else t.data
                    w = gguf.quants.dequantize(part, t.tensor_type)
                    written += f.write(encode_tensor(w, dtype))
            assert written == e["nbytes"], (e["name"], written, e["nbytes"])
    os.replace(tmp, path)


def is_complete(out_dir, dtype, n_shards):
    cfg_path = os.path.join(out_dir, "config.json")
    if not os.path.exists(cfg_path):
        return False
    try:
        cfg = json.load(open(cfg_path))
    except ValueError:
        return False
    if cfg.get("torch_dtype") != DTYPES[dtype][0]:
        return False
    if not os.path.exists(os.path.join(out_dir, "tokenizer.json")):
        return False
    if n_shards <= 1:
        return os.path.exists(os.path.join(out_dir, "model.safetensors")) and \
            not os.path.exists(os.path.join(out_dir, "model.safetensors.index.json"))
    idx = os.path.join(out_dir, "model.safetensors.index.json")
    if not os.path.exists(idx):
        return False
    files = set(json.load(open(idx))["weight_map"].values())
    return len(files) == n_shards and all(os.path.exists(os.path.join(out_dir, f)) for f in files)


def convert(gguf_path, out_dir, n_shards=1, dtype="F32", force=False):
    if not force and is_complete(out_dir, dtype, n_shards):
        print(f"{out_dir}: complete HF copy already present ({dtype}, {n_shards} shard(s)); use --force to redo")
        return False
    t0 = time.time()
    reader = GGUFReader(gguf_path)
    cfg = read_config(reader)
    tensors = {t.name: t for t in reader.tensors}
    names = hf_names(cfg, "output.weight" in tensors)
    missing = [g for _, g, _ in names if g not in tensors]
    if missing:
        raise SystemExit(f"GGUF lacks tensors: {missing[:5]}")
    itemsize = DTYPES[dtype][1]
    entries = []
    for hf, g, up in names:
        shape = [int(d) for d in reversed(tensors[g].shape)]
        entries.append({"name": hf, "gguf": g, "unpermute": up, "shape": shape,
                        "nbytes": int(np.prod(shape)) * itemsize})

    os.makedirs(out_dir, exist_ok=True)
    # config.json is the completion marker: remove it first, write it last
    for stale in ["config.json", "model.safetensors", "model.safetensors.index.json"]:
        p = os.path.join(out_dir, stale)
        if os.path.exists(p):
            os.remove(p)
    for fn in os.listdir(out_dir):
        if fn.startswith("model-") and fn.endswith(".safetensors"):
            os.remove(os.path.join(out_dir, fn))

    groups = shard_plan(entries, n_shards)
    if len(groups) == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), groups[0], tensors, dtype)
    else:
        n = len(groups)
        weight_map = {}
        for k, group in enumerate(groups, 1):
            fn = f"model-{k:05d}-of-{n:05d}.safetensors"
            write_safetensors(os.path.join(out_dir, fn), group, tensors, dtype)
            weight_map.update({e["name"]: fn for e in group})
        index = {"metadata": {"total_size": sum(e["nbytes"] for e in entries)}, "weight_map": weight_map}
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2)

    write_tokenizer_files(reader, cfg, out_dir)
    eps = float(f"{cfg['rms_eps']:.6g}")  # GGUF stores float32(1e-5) = 9.99999974e-06
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": cfg["n_embd"],
        "intermediate_size": cfg["n_ff"],
        "num_hidden_layers": cfg["n_layer"],
        "num_attention_heads": cfg["n_head"],
        "num_key_value_heads": cfg["n_head_kv"],
        "head_dim": cfg["head_dim"],
        "hidden_act": "silu",
        "rms_norm_eps": eps,
        "rope_theta": cfg["rope_base"],
        "rope_scaling": None,
        "max_position_embeddings": cfg["n_ctx"],
        "vocab_size": cfg["n_vocab"],
        "tie_word_embeddings": "output.weight" not in tensors,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "bos_token_id": cfg["bos_id"],
        "eos_token_id": cfg["eos_id"],
        "pad_token_id": cfg["pad_id"],
        "torch_dtype": DTYPES[dtype][0],
    }
    tmp = os.path.join(out_dir, "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(config, f, indent=2)
    os.replace(tmp, os.path.join(out_dir, "config.json"))
    print(f"wrote {out_dir}: {len(entries)} tensors, {dtype}, {len(groups)} shard(s), "
          f"{sum(e['nbytes'] for e in entries)/1e6:.1f} MB in {time.time()-t0:.1f}s")
    return True


def write_tokenizer_files(reader, cfg, out_dir):
    tok = build_tokenizer(reader)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    name = lambda i: None if i is None else tokens[i]
    added = {str(i): {"content": tokens[i], "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": ty == 3}
             for i, ty in enumerate(types) if ty in (3, 4)}
    special = {"bos_token": name(cfg["bos_id"]), "eos_token": name(cfg["eos_id"]),
               "unk_token": name(cfg["unk_id"]), "pad_token": name(cfg["pad_id"])}
    special = {k: v for k, v in special.items() if v is not None}
    tok_cfg = {
        "add_bos_token": cfg["add_bos"],
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        **special,
        "chat_template": field(reader, "tokenizer.chat_template"),
        "clean_up_tokenization_spaces": False,
        "model_max_length": cfg["n_ctx"],
        "tokenizer_class": "GPT2Tokenizer",
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=2, ensure_ascii=False)
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    gen = {"bos_token_id": cfg["bos_id"], "eos_token_id": cfg["eos_id"], "pad_token_id": cfg["pad_id"]}
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf")
    ap.add_argument("out_dir")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--dtype", default="F32", type=str.upper, choices=sorted(DTYPES))
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    convert(a.gguf, a.out_dir, a.shards, a.dtype, a.force)


if __name__ == "__main__":
    main()
