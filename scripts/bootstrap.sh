#!/usr/bin/env bash
# Set up a development/CI environment from a fresh clone. Idempotent: re-running is cheap.
#
#   1. .venv/ in the repo, with Python 3.11 (override with PYTHON=/path/to/python3.11)
#   2. torch==2.13.0 FIRST: the CPU build that lies on this machine's disk. A plain `torch`
#      (or letting sentence-transformers pull one) would download a multi-GB CUDA build.
#   3. the package itself, editable, with the `local` and `test` extras
#   4. llama-server: located, or built from source on first use (~7 min on 2 cores), and the
#      default GGUF model assembled, both into ~/.cache/langchain-calibrate (or
#      $LANGCHAIN_CALIBRATE_CACHE)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3.11
    # Fall back to python3 when it is 3.11+ but no python3.11 command exists.
    if ! command -v python3.11 >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1 \
        && python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
        PYTHON=python3
    fi
fi
VENV="$ROOT/.venv"
VPY="$VENV/bin/python"
TORCH_VERSION="2.13.0"
STAMP="$VENV/.bootstrap-stamp"

say() { printf '[bootstrap] %s\n' "$*" >&2; }

# pip -q still prints warnings; drop the known-harmless ones about this machine's local index
# folders, keep everything else (errors included) on stderr.
pip_install() {
    local log
    log="$(mktemp)"
    if ! "$VPY" -m pip install --quiet --disable-pip-version-check --progress-bar off \
        --no-input "$@" 2>"$log"; then
        grep -v 'is neither a file nor a directory' "$log" >&2 || true
        rm -f "$log"
        say "pip install $* failed (see the errors above)"
        return 1
    fi
    grep -v 'is neither a file nor a directory' "$log" >&2 || true
    rm -f "$log"
}

# 1. virtualenv
if [ ! -x "$VPY" ]; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        say "$PYTHON not found: install Python 3.11, or set PYTHON=/path/to/python3.11"
        exit 1
    fi
    say "creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VPY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    say "$VENV uses $("$VPY" --version 2>&1); Python >= 3.11 is required: rm -rf .venv and retry"
    exit 1
fi

# 2. torch (CPU) before anything that depends on it
installed_torch="$("$VPY" -c 'import importlib.metadata as m
try:
    print(m.version("torch"))
except m.PackageNotFoundError:
    print("")')"
if [ "${installed_torch%%+*}" != "$TORCH_VERSION" ]; then
    say "installing torch==$TORCH_VERSION (CPU build)"
    pip_install "torch==$TORCH_VERSION"
fi

# 3. the project, re-installed only when pyproject.toml changed (or the install is missing)
want_stamp="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want_stamp" ] \
    || ! "$VPY" -c 'import langchain_calibrate' >/dev/null 2>&1; then
    say "installing langchain-calibrate (editable) with extras [local,test]"
    pip_install -e '.[local,test]'
    # pip may not honour the pin when resolving the extras; make sure torch stayed the CPU build
    now_torch="$("$VPY" -c 'import importlib.metadata as m; print(m.version("torch"))')"
    if [ "${now_torch%%+*}" != "$TORCH_VERSION" ]; then
        say "torch changed to $now_torch while installing the extras; expected $TORCH_VERSION"
        exit 1
    fi
    printf '%s\n' "$want_stamp" >"$STAMP"
fi

# 4. llama-server binary and the default model
say "locating llama-server (builds from source on first use, ~7 min on 2 cores)"
server_bin="$("$VPY" -m langchain_calibrate.local.server build)"
say "llama-server: $server_bin"
model="$("$VPY" -m langchain_calibrate.local.server model)"
say "model: $model"
say "ready"
