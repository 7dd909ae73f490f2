#!/usr/bin/env bash
# Install everything the tests need (into .venv/, plus Debian's chromium) and run them:
# the whole pytest suite (unit, slow whole-corpus, Chroma server, browser tests), then the
# evaluation quality gate on ../shared/corpus. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev

export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "==> pytest"
# pytest exits 5 when it collected no test: that is a failure here, never hidden.
.venv/bin/python -m pytest "$@"

if [ -d ../shared/corpus ]; then
    echo "==> evaluation quality gate (../shared/corpus, floors in evals/gate.json)"
    rm -rf eval_out/ci
    .venv/bin/tradechat eval --corpus ../shared/corpus \
        --questions evals/questions_shared_corpus.jsonl \
        --out eval_out/ci --gate evals/gate.json --no-judge
else
    echo "==> ../shared/corpus not found: evaluation gate skipped" >&2
fi
