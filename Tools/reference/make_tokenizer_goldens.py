#!/usr/bin/env python3
"""Build SmolLM2's Hugging Face tokenizer from the GGUF and dump goldens for EdgeTune's tokenizer tests.

ref: huggingface/tokenizers (models.BPE, pre_tokenizers.Digits + ByteLevel, decoders.ByteLevel);
     the "smollm" pre-tokenizer of llama.cpp (every \\p{N} isolated, then the GPT-2 regex);
     SmolLM2-135M-Instruct's original tokenizer.json, rebuilt from the GGUF arrays.

Usage:
  make_tokenizer_goldens.py [--gguf MODEL.gguf] [--tokenizer-json OUT.json]
                            [--gguf-vocab-json OUT.json] [--fixtures DIR] [--only-tokenizer-json]

Writes
  --tokenizer-json     the tokenizer.json built here (what the Swift tokenizer.json loader is tested on)
  --gguf-vocab-json    the raw GGUF tokenizer arrays (tokens, merges, token_type, special ids) as JSON,
                       so a package without a GGUF reader can test BPETokenizer's GGUF initializer
  FIXTURES/tokenizer_golden.json
                       for every case of FIXTURES/tokenizer_corpus.txt: HF ids; pre-token splits for the
                       gpt2/smollm/qwen2/llama3 regexes; HF decode of odd id sequences; chat renders of the
                       GGUF's Jinja template (jinja2, the same environment flags transformers uses).
"""
import argparse
import json
import os
import re
import sys

from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "Tests", "ModelTests", "Fixtures"))
DEFAULT_GGUF = os.path.expanduser("~/.cache/edgetune/models/SmolLM2-135M-Instruct.Q4_1.gguf")

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
QWEN2_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
                 r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
LLAMA3_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"""
                  r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

# Short cases the corpus cannot hold on their own (empty input, lone whitespace kinds, edge specials).
EXTRA_CASES = [
    "", " ", "  ", "\n", "\n\n\n", "\t", " \t ", "hello   ", "   hello", "a  b", "a \n b", "\r\n\r\n",
    "'s", "'S", "x's", "2024", " 2024", "3.14159", "1,000,000", "٣٤", "Ⅻ", "½",
    "😀", "👨‍👩‍👧‍👦", "🇺🇸🇯🇵", "é", "e\u0301", "\u00a0", "a\u3000b", "\u2028",
    "<|im_start|>", "<|im_start|><|im_end|>", "<|im_start", "x<|endoftext|>y", " <|im_end|> ",
    "a\x04b\x1d", "<|im_start|>user\nHi<|im_end|>\n", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
]

CHAT_CASES = [
    ([{"role": "user", "content": "Hi"}], True),
    ([{"role": "user", "content": "Hi"}], False),
    ([{"role": "system", "content": "Be terse."}, {"role": "user", "content": "What's 2+2?"},
      {"role": "assistant", "content": "4"}], False),
    ([{"role": "user", "content": "Tell me a joke."}, {"role": "assistant", "content": "No.\n\nWhy?"},
      {"role": "user", "content": "  spaces kept  "}], True),
    ([], True),
]

# Other models' templates (verbatim Jinja sources) that ChatTemplate claims to render; bos_token is empty because
# ChatTemplate never renders BOS (callers add it from the tokenizer's add_bos flag).
OTHER_TEMPLATES = {
    "qwen2": ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
              "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
              "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
              "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}", "<|im_end|>"),
    "llama3": ("{% set loop_messages = messages %}{% for message in loop_messages %}"
               "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
               "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
               "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
               "<|eot_id|>"),
    "zephyr": ("{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
               "{{ '<|user|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n"
               "{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
               "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
               "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}", "</s>"),
}


def read_gguf(path):
    fields = GGUFReader(path).fields

    def get(key, default=None):
        return fields[key].contents() if key in fields else default

    return {
        "tokens": list(get("tokenizer.ggml.tokens")),
        "merges": list(get("tokenizer.ggml.merges")),
        "token_type": [int(t) for t in get("tokenizer.ggml.token_type")],
        "pre": get("tokenizer.ggml.pre"),
        "bos_token_id": get("tokenizer.ggml.bos_token_id"),
        "eos_token_id": get("tokenizer.ggml.eos_token_id"),
        "unknown_token_id": get("tokenizer.ggml.unknown_token_id"),
        "padding_token_id": get("tokenizer.ggml.padding_token_id"),
        "add_bos_token": bool(get("tokenizer.ggml.add_bos_token", False)),
        "chat_template": get("tokenizer.chat_template"),
    }


def build_tokenizer(g):
    """SmolLM2's tokenizer.json: byte-level BPE, digits isolated first, control tokens as specials."""
    assert g["pre"] == "smollm", f"expected tokenizer.ggml.pre == 'smollm', got {g['pre']!r}"
    vocab = {tok: i for i, tok in enumerate(g["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in g["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = [AddedToken(t, special=True, normalized=False)
                for t, kind in zip(g["tokens"], g["token_type"]) if kind in (3, 4)]
    tok.add_special_tokens(specials)
    return tok


def corpus_cases(corpus):
    """Paragraph-sized cases: cut after every run of two or more newlines, keeping the newlines."""
    parts = re.split(r"(?<=\n\n)(?=[^\n])", corpus)
    return [p for p in parts if p]


def byte_level_inverse():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def splits(pre, text, inverse=None):
    pieces = [p for p, _ in pre.pre_tokenize_str(text)]
    if inverse is None:
        return pieces
    return [bytes(inverse[c] for c in p).decode("utf-8") for p in pieces]


def render_chat(template, messages, add_generation_prompt, bos_token="", eos_token="<|im_end|>"):
    """transformers' apply_chat_template environment: a sandbox with trim_blocks and lstrip_blocks."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                            bos_token=bos_token, eos_token=eos_token)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--tokenizer-json", default="/tmp/edgetune/smollm2-tokenizer.json")
    ap.add_argument("--gguf-vocab-json", default="/tmp/edgetune/smollm2-gguf-vocab.json")
    ap.add_argument("--fixtures", default=DEFAULT_FIXTURES)
    ap.add_argument("--only-tokenizer-json", action="store_true", help="write tokenizer.json and stop")
    args = ap.parse_args()

    g = read_gguf(args.gguf)
    tok = build_tokenizer(g)
    os.makedirs(os.path.dirname(os.path.abspath(args.tokenizer_json)), exist_ok=True)
    tok.save(args.tokenizer_json)
    print(f"wrote {args.tokenizer_json}")
    if args.only_tokenizer_json:
        return
    if args.gguf_vocab_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.gguf_vocab_json)), exist_ok=True)
        with open(args.gguf_vocab_json, "w", encoding="utf-8") as f:
            json.dump({k: v for k, v in g.items() if k != "chat_template"}, f, ensure_ascii=False)
        print(f"wrote {args.gguf_vocab_json}")

    with open(os.path.join(args.fixtures, "tokenizer_corpus.txt"), encoding="utf-8", newline="") as f:
        corpus = f.read()
    texts = corpus_cases(corpus) + EXTRA_CASES + [corpus]
    inverse = byte_level_inverse()
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    pres = {
        "gpt2": (byte_level, inverse),
        "smollm": (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level]), inverse),
        "qwen2": (pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"), None),
        "llama3": (pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"), None),
    }
    cases = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append({
            "text": text,
            "ids": ids,
            # False only where the vocabulary lacks a byte (SmolLM2 has no token for 0x04, 0x1D, 0xF5...).
            "round_trips": tok.decode(ids, skip_special_tokens=False) == text,
            "pre_tokens": {kind: splits(pre, text, inv) for kind, (pre, inv) in pres.items()},
        })

    # Decoding byte tokens that do not form whole UTF-8 sequences: HF replaces them with U+FFFD.
    byte_token = {b: tok.token_to_id(c) for c, b in inverse.items()}
    odd = [[byte_token[0xE6]], [byte_token[0xE6], byte_token[ord("a")]], [byte_token[0xF0], byte_token[0x9F]],
           [byte_token[0xF4], byte_token[0xC3], byte_token[0xA9]], [byte_token[0x80], byte_token[0x80]],
           [byte_token[0xED], byte_token[0xA0], byte_token[0x80]], [1, byte_token[0xE4], 2]]
    decodes = [{"ids": ids, "text": tok.decode(ids, skip_special_tokens=False)} for ids in odd]

    chats = [{"messages": m, "add_generation_prompt": gp, "text": render_chat(g["chat_template"], m, gp)}
             for m, gp in CHAT_CASES]

    golden = {
        "comment": "Generated by Tools/reference/make_tokenizer_goldens.py from the SmolLM2-135M-Instruct GGUF "
                   "with huggingface tokenizers; do not edit by hand.",
        "tokenizers_version": __import__("tokenizers").__version__,
        "chat_template": g["chat_template"],
        "cases": cases,
        "decodes": decodes,
        "chats": chats,
        "other_templates": [
            {"name": name, "template": template, "end_of_turn": eos,
             "chats": [{"messages": m, "add_generation_prompt": gp,
                        "text": render_chat(template, m, gp, eos_token=eos)} for m, gp in CHAT_CASES]}
            for name, (template, eos) in OTHER_TEMPLATES.items()],
    }
    out = os.path.join(args.fixtures, "tokenizer_golden.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
    print(f"wrote {out}: {len(cases)} cases, {len(decodes)} decodes, {len(chats)} chats")


if __name__ == "__main__":
    sys.exit(main())
