#!/usr/bin/env bash
# Install tradechat into .venv/ at the project root.
#   scripts/setup.sh          the app (CPU-only torch first, then the package)
#   scripts/setup.sh --dev    also the test tools, and Debian's chromium for browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip
# torch first and pinned: 2.13.0 is the CPU build these machines carry; a bare `torch`
# (pulled in by sentence-transformers) would fetch several GB of CUDA builds instead.
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
    echo "==> installing torch 2.13.0 (CPU)"
    "${PIP[@]}" install -q "torch==2.13.0"
fi
if [ "${1:-}" = "--dev" ]; then
    echo "==> installing tradechat with test tools"
    "${PIP[@]}" install -q -e ".[dev]"
    if ! command -v chromium >/dev/null 2>&1; then
        echo "==> installing Debian's chromium for the browser tests"
        if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo); fi
        "${SUDO[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq chromium >/dev/null
    fi
else
    echo "==> installing tradechat"
    "${PIP[@]}" install -q -e .
fi
echo "==> ready: .venv/bin/tradechat --help"
