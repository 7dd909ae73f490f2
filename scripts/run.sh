#!/usr/bin/env bash
# Install (if needed) and start the app on the bundled corpus: http://127.0.0.1:7860
# Extra arguments go to `tradechat serve` (e.g. --port 8000 --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/tradechat serve "$@"
