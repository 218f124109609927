#!/usr/bin/env python3
"""Writes golden fixtures for the Quantization module's ggml quantizers (ggmlQuantize).

Into Tests/QuantizationTests/Fixtures/quantize/ it writes:
  input.f32          fixed-seed fp32 weights, little-endian: 18 super-blocks of 256, one case each (cases.txt)
  cases.txt          the case of each super-block, one name a line, in order
  ggml/<TYPE>.bin    input.f32 quantized by llama.cpp's own reference quantizers, the functions llama-quantize runs
                     without an importance matrix: quantize_row_<type>_ref from ggml/src/ggml-quants.c, compiled
                     here into a throw-away harness (below); F16 is GGML_FP32_TO_FP16 per weight
  gguf-py/<TYPE>.bin input.f32 quantized by gguf-py's numpy port (pip gguf 0.19.0, gguf.quants.quantize), an
                     implementation independent of ggml's C; it has quantizers for Q4_0 ... Q8_0 and F16 only (its
                     K-quant classes dequantize only)
and checks that both agree wherever both exist. When Tools/build-llama-cpp has built llama-quantize, it also checks the
ggml goldens against the real tool: every matrix of the tiny qwen2 GGUF (Tests/ModelTests/Fixtures/tiny) replaced by
input.f32 as 18 rows of 256, `llama-quantize --pure` to each type, and every matrix's bytes compared.

The llama.cpp source is the one Tools/build-llama-cpp builds: llama.cpp as vendored in PyPI's source distribution of
llama-cpp-python 0.3.36, taken from $EDGETUNE_CACHE/downloads (default ~/.cache/edgetune) and checked by SHA-256, or
downloaded there with pip when missing. The harness is ggml-quants.c compiled with gcc as ggml-base is built
(-O3 -std=gnu11 -DNDEBUG, no -march) plus -ffp-contract=off, so that the bytes are x86-64's (where ggml-base has no
FMA to contract into) whatever machine re-records them. It lives in a temporary directory and is deleted after.

Usage: python3 Tools/reference/make_quantize_goldens.py [output_dir]   (re-record only on request)
Needs: numpy, gguf==0.19.0 (the venv Tools/lib/setup.sh makes), gcc.
ref: ggml/src/ggml-quants.c quantize_row_q4_0_ref ... quantize_row_q6_K_ref; gguf-py gguf/quants.py.
"""
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

SEED = 20250611
LLAMA_CPP_PYTHON = "0.3.36"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "..", "Tests", "QuantizationTests", "Fixtures", "quantize")

# name -> (ggml reference function, bytes per block, weights per block); F16 is converted weight by weight.
TYPES = {
    "F16": (None, 2, 1),
    "Q4_0": ("quantize_row_q4_0_ref", 18, 32),
    "Q4_1": ("quantize_row_q4_1_ref", 20, 32),
    "Q5_0": ("quantize_row_q5_0_ref", 22, 32),
    "Q5_1": ("quantize_row_q5_1_ref", 24, 32),
    "Q8_0": ("quantize_row_q8_0_ref", 34, 32),
    "Q4_K": ("quantize_row_q4_K_ref", 144, 256),
    "Q5_K": ("quantize_row_q5_K_ref", 176, 256),
    "Q6_K": ("quantize_row_q6_K_ref", 210, 256),
}
GGUF_PY_TYPES = ["F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]

HARNESS = r"""
// Reads fp32 weights on stdin, writes them quantized by ggml's reference quantizer named by argv[1] on stdout.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml-quants.h"
#include "ggml-impl.h"

// ggml-quants.c's other functions refer to these ggml.c symbols; the _ref functions never call them.
void ggml_abort(const char * file, int line, const char * fmt, ...) {
    fprintf(stderr, "ggml_abort at %s:%d (%s)\n", file, line, fmt);
    abort();
}
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void) type; (void) ne; abort(); }
size_t ggml_type_size(enum ggml_type type) { (void) type; abort(); }
const char * ggml_type_name(enum ggml_type type) { (void) type; abort(); }

int main(int argc, char ** argv) {
    if (argc != 2) return 2;
    static float x[1 << 20];
    size_t n = fread(x, sizeof(float), sizeof(x) / sizeof(float), stdin);
    static unsigned char y[8 << 20];
    size_t bytes = 0;
    const char * t = argv[1];
    if (!strcmp(t, "F16")) {
        for (size_t i = 0; i < n; i++) { ggml_fp16_t h = GGML_FP32_TO_FP16(x[i]); memcpy(y + 2 * i, &h, 2); }
        bytes = 2 * n;
    }
#define TYPE(name, fn, size, qk) else if (!strcmp(t, name)) { fn(x, (void *) y, (int64_t) n); bytes = n / qk * size; }
    TYPE("Q4_0", quantize_row_q4_0_ref, sizeof(block_q4_0), QK4_0)
    TYPE("Q4_1", quantize_row_q4_1_ref, sizeof(block_q4_1), QK4_1)
    TYPE("Q5_0", quantize_row_q5_0_ref, sizeof(block_q5_0), QK5_0)
    TYPE("Q5_1", quantize_row_q5_1_ref, sizeof(block_q5_1), QK5_1)
    TYPE("Q8_0", quantize_row_q8_0_ref, sizeof(block_q8_0), QK8_0)
    TYPE("Q4_K", quantize_row_q4_K_ref, sizeof(block_q4_K), QK_K)
    TYPE("Q5_K", quantize_row_q5_K_ref, sizeof(block_q5_K), QK_K)
    TYPE("Q6_K", quantize_row_q6_K_ref, sizeof(block_q6_K), QK_K)
    else return 3;
    fwrite(y, 1, bytes, stdout);
    return 0;
}
"""


def make_cases(rng):
    """One 256-weight super-block per case: every path of the quantizers (zero groups, fp16 scales that round to zero
    or to subnormals, minimum clamped to 0, ties, outliers, sub-blocks of very different magnitude). All finite and
    inside the range where ggml's float-to-int casts are defined, so the C result is the language's, not the CPU's."""
    n = 256
    g = lambda s=1.0: (rng.standard_normal(n) * s).astype(np.float32)
    cases = {}
    cases["gaussian"] = g()
    cases["weights_0.02"] = g(0.02)
    cases["zeros"] = np.zeros(n, np.float32)
    x = g()
    x[17], x[200], x[130] = 60.0, -45.0, 1e4
    cases["outliers"] = x
    cases["tiny_1e-6"] = g(1e-6)  # fp16 scales are subnormal
    cases["tiny_1e-30"] = g(1e-30)  # fp16 scales round to 0; fp32 reciprocals stay finite
    cases["below_eps_3e-16"] = g(3e-16)  # Q6_K groups straddle GROUP_MAX_EPS = 1e-15
    x = -np.abs(g())
    x[::9] = np.abs(x[::9]) * 0.1
    cases["negative_dominant"] = x
    cases["all_positive"] = (2.0 + 0.3 * g()).astype(np.float32)  # K-quant minimum clamped to 0
    cases["constant"] = np.repeat(np.array([0.5, -0.25, 0, 3, -7, 1e-3, 0.5, 2], np.float32), 32)
    cases["mixed_magnitudes"] = (g() * np.repeat(10.0 ** np.arange(-4, 4), 32)).astype(np.float32)
    # Groups whose fp32 scale and reciprocal are exact, so that x/d lands on .5: Q4_0/Q5_0 (max −16: d = 2 or 1),
    # Q8_0 (max 63.5: d = 0.5, roundf's half away from zero), Q4_1 (range 15: d = 1), Q5_1 (range 31: d = 1).
    ties = (rng.integers(-8, 8, n) * 0.25).astype(np.float32)
    ties[0:32] = np.arange(-16, 16)
    ties[32:64] = [63.5] + [j + 0.25 for j in range(-15, 16)]
    ties[64:96] = [0, 15] + [k + 0.5 for k in range(15)] * 2
    ties[96:128] = [0, 31] + [k + 0.5 for k in range(30)]
    cases["ties"] = ties
    cases["large_1000"] = g(1000.0)
    x = g()
    x[96:128] = 0  # one zero 32-group (and two zero 16-groups) among live ones
    cases["zero_subblock"] = x
    x = g()
    x[rng.random(n) < 0.95] = 0
    cases["sparse"] = x
    cases["heavy_tails"] = (rng.standard_t(2, n) * 0.05).astype(np.float32)
    cases["shifted_-3"] = (-3.0 + g()).astype(np.float32)
    x = np.zeros(n, np.float32)
    x[5::32] = rng.choice([-1.0, 1.0], 8) * rng.uniform(0.5, 5, 8)  # one nonzero weight per 32-group
    cases["one_per_group"] = x
    return cases


def llama_cpp_sdist():
    cache = os.environ.get("EDGETUNE_CACHE", os.path.expanduser("~/.cache/edgetune"))
    archive = os.path.join(cache, "downloads", f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz")
    if not os.path.exists(archive):
        os.makedirs(os.path.dirname(archive), exist_ok=True)
        print(f"downloading the llama-cpp-python {LLAMA_CPP_PYTHON} source distribution from PyPI")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
                        "llama-cpp-python", f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "-d",
                        os.path.dirname(archive)], check=True)
    digest = hashlib.sha256(open(archive, "rb").read()).hexdigest()
    if digest != SDIST_SHA256:
        sys.exit(f"{archive}: SHA-256 {digest} is not {SDIST_SHA256}; remove it and retry")
    return archive


def build_harness(work):
    """Extracts ggml from the sdist into `work` and compiles ggml-quants.c with the harness; returns the binary."""
    prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/ggml/"
    with tarfile.open(llama_cpp_sdist()) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix + "include/")
                   or (m.name.startswith(prefix + "src/") and m.name.endswith((".c", ".h")))]
        tar.extractall(work, members=members, filter="data")
    ggml = os.path.join(work, prefix)
    with open(os.path.join(work, "harness.c"), "w") as f:
        f.write(HARNESS)
    flags = ["-O3", "-std=gnu11", "-DNDEBUG", "-D_GNU_SOURCE", "-ffp-contract=off",
             "-I", os.path.join(ggml, "include"), "-I", os.path.join(ggml, "src")]
    binary = os.path.join(work, "harness")
    subprocess.run(["gcc", *flags, os.path.join(ggml, "src", "ggml-quants.c"), os.path.join(work, "harness.c"),
                    "-lm", "-o", binary], check=True)
    return binary


def check_with_llama_quantize(data, ggml):
    """The ggml goldens against what llama-quantize itself writes (skipped when it is not built)."""
    cache = os.environ.get("EDGETUNE_CACHE", os.path.expanduser("~/.cache/edgetune"))
    tool = os.path.join(cache, "llama.cpp", LLAMA_CPP_PYTHON, "bin", "llama-quantize")
    if not os.access(tool, os.X_OK):
        print(f"llama-quantize check skipped: {tool} not built (Tools/build-llama-cpp)")
        return
    tiny = os.path.join(HERE, "..", "..", "Tests", "ModelTests", "Fixtures", "tiny", "qwen2.tiny-gguf")
    reader = gguf.GGUFReader(tiny)
    matrix = data.reshape(-1, 256)
    with tempfile.TemporaryDirectory(prefix="edgetune-quantize-check.") as work:
        source = os.path.join(work, "f32.gguf")
        writer = gguf.GGUFWriter(source, reader.fields["general.architecture"].contents())
        for field in reader.fields.values():
            if field.name == "general.architecture" or field.name.startswith("GGUF."):
                continue
            kind = field.types[0]
            sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
        for tensor in reader.tensors:
            writer.add_tensor(tensor.name, matrix.copy() if len(tensor.shape) == 2 else np.array(tensor.data))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        # llama-quantize's file types; with --pure every matrix gets the type itself (no Q4_K_M mixture).
        ftypes = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}
        for name in TYPES:
            out = os.path.join(work, name + ".gguf")
            subprocess.run([tool, "--pure", source, out, ftypes.get(name, name), "1"], capture_output=True, check=True)
            matrices = [t for t in gguf.GGUFReader(out).tensors if len(t.shape) == 2]
            bad = [t.name for t in matrices if t.tensor_type.name != name
                   or np.array(t.data).view(np.uint8).tobytes() != ggml[name]]
            assert matrices and not bad, f"{name}: llama-quantize differs in {bad}"
            print(f"{name:5s} llama-quantize identical ({len(matrices)} matrices)")


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
    rng = np.random.default_rng(SEED)
    cases = make_cases(rng)
    data = np.concatenate(list(cases.values())).astype("<f4")
    assert np.all(np.isfinite(data))
    for sub in ("", "ggml", "gguf-py"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    data.tofile(os.path.join(out, "input.f32"))
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("".join(name + "\n" for name in cases))

    with tempfile.TemporaryDirectory(prefix="edgetune-quantize-goldens.") as work:
        harness = build_harness(work)
        ggml = {}
        for name, (_, size, block) in TYPES.items():
            raw = subprocess.run([harness, name], input=data.tobytes(), capture_output=True, check=True).stdout
            assert len(raw) == data.size // block * size, name
            ggml[name] = raw
            with open(os.path.join(out, "ggml", name + ".bin"), "wb") as f:
                f.write(raw)

    total = data.nbytes
    for name in TYPES:
        line = f"{name:5s} ggml {len(ggml[name]):6d} bytes"
        total += len(ggml[name])
        if name in GGUF_PY_TYPES:
            raw = np.asarray(gguf.quants.quantize(data, T[name])).view(np.uint8).tobytes()
            with open(os.path.join(out, "gguf-py", name + ".bin"), "wb") as f:
                f.write(raw)
            total += len(raw)
            size = TYPES[name][1]
            differ = [i for i in range(len(raw) // size) if raw[i * size:(i + 1) * size] != ggml[name][i * size:(i + 1) * size]]
            line += f", gguf-py {'identical' if not differ else f'differs in blocks {differ[:8]}'}"
            assert not differ, f"{name}: gguf-py and ggml disagree"
        print(line)
    check_with_llama_quantize(data, ggml)
    print(f"{len(cases)} cases, {data.size} weights; total {total} bytes in {out}")


if __name__ == "__main__":
    main()
