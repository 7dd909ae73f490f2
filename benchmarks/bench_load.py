"""Load benchmark: concurrent clients asking questions through ``POST /api/ask``.

By default it starts the app itself (``tradechat serve`` on a free loopback port, with a
fresh index of docs_corpus/ in a temporary folder), waits until indexing is done, sends one
warm-up question, then runs 20 clients x 25 questions and prints the error count and the
latency percentiles. Questions come from evals/questions_docs_corpus.jsonl.

Usage::

    python benchmarks/bench_load.py                         # start the app, then measure
    python benchmarks/bench_load.py --url http://127.0.0.1:7860 --token "$TOKEN"
    python benchmarks/bench_load.py --clients 50 --questions 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "evals" / "questions_docs_corpus.jsonl"


def load_questions() -> list[str]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile.

    >>> percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)
    10
    >>> percentile([1, 2, 3, 4], 50)
    2
    """
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def started_app(log_path: Path):
    """Run ``tradechat serve`` with a temporary data folder; yield its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tradechat-bench-") as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADECHAT_")}
        env.update(TRADECHAT_DATA_DIR=data, HF_HUB_OFFLINE="1")
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tradechat.cli", "serve", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                url = f"http://127.0.0.1:{port}"
                wait_ready(url, proc, log_path)
                yield url
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def wait_ready(
    url: str, proc: subprocess.Popen | None, log_path: Path | None, timeout: float = 300
) -> None:
    """Wait for /healthz to answer and the start-up indexing to finish."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_path.read_text()[-2000:] if log_path else ""
            raise SystemExit(f"the app exited with code {proc.returncode}:\n{tail}")
        try:
            state = httpx.get(f"{url}/healthz", timeout=5).json()["indexing"]["state"]
            if state in ("ready", "idle"):
                return
            if state == "error":
                raise SystemExit(f"indexing failed: {httpx.get(f'{url}/healthz').json()}")
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} was not ready after {timeout:.0f}s")


async def client(
    cid: int,
    url: str,
    questions: list[str],
    n: int,
    headers: dict,
    http: httpx.AsyncClient,
    results: list,
) -> None:
    for i in range(n):
        question = questions[(cid * 7 + i) % len(questions)]
        started = time.perf_counter()
        try:
            r = await http.post(f"{url}/api/ask", json={"question": question}, headers=headers)
            ok = r.status_code == 200 and "answer" in r.json()
            kind = "ok" if ok else f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
        results.append((kind, time.perf_counter() - started))


async def run(url: str, clients: int, per_client: int, token: str | None, timeout: float) -> dict:
    questions = load_questions()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        warm = await http.post(f"{url}/api/ask", json={"question": questions[0]}, headers=headers)
        if warm.status_code != 200:
            raise SystemExit(f"warm-up question failed: HTTP {warm.status_code} {warm.text}")
        results: list[tuple[str, float]] = []
        started = time.perf_counter()
        await asyncio.gather(
            *(client(c, url, questions, per_client, headers, http, results) for c in range(clients))
        )
        wall = time.perf_counter() - started
    latencies = [t for kind, t in results if kind == "ok"]
    errors = Counter(kind for kind, _ in results if kind != "ok")
    return {
        "requests": len(results),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95) * 1000, 1) if latencies else None,
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "wall_s": round(wall, 1),
        "throughput_rps": round(len(results) / wall, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running app (default: start one on a free port)")
    parser.add_argument("--token", help="API token, if the app has TRADECHAT_API_TOKEN set")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--questions", type=int, default=25, help="questions per client")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per request")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    def measure(url: str) -> dict:
        return asyncio.run(
            run(url.rstrip("/"), args.clients, args.questions, args.token, args.timeout)
        )

    if args.url:
        wait_ready(args.url.rstrip("/"), None, None, timeout=60)
        result = measure(args.url)
    else:
        log = Path(tempfile.gettempdir()) / "tradechat-bench-server.log"
        print(f"starting the app (log: {log}) ...", file=sys.stderr)
        with started_app(log) as url:
            result = measure(url)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['requests']} requests ({args.clients} clients x {args.questions}) in "
            f"{result['wall_s']}s, {result['throughput_rps']} req/s"
        )
        print(f"errors: {result['errors']} {result['error_kinds'] or ''}".rstrip())
        print(
            f"latency: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
            f"max {result['max_ms']} ms"
        )
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
