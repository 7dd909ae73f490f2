"""Ingestion benchmark: figures printed, nothing asserted.

Ingests a corpus (default ../shared/corpus) into a fresh temporary index and prints:

* the first run, in-process with the model already loaded: seconds, chunks, chunks/s,
  peak RSS of this process;
* the encoder alone (``Encoder.embed``, the same batch size) on the very texts the ingest
  embedded (heading path + passage): seconds, chunks/s, and the ratio ingest / encoder,
  the encoder being the physical limit of an ingest on this machine (target: <= 1.3);
* an unchanged second run, as a fresh ``tradechat ingest`` subprocess (what a user runs:
  Python start-up and imports included) and in-process, with its ratio to the first
  run (target: < 10%);
* with ``--cli-first``, also a first run as a ``tradechat ingest`` subprocess into another
  fresh index (model loading included) and that process's peak RSS.

Other processes on the machine skew wall-clock timings: the load average is printed next to
them, CPU seconds of this process (all its threads) are printed beside wall seconds (they
move much less with the load), and ``--repeat N`` alternates ingest and encoder runs N
times and keeps the fastest of each. Model loading and the first ``import chromadb`` happen
before the in-process timings (the encoder-alone figure excludes them too); the CLI figures
include everything.

Usage::

    .venv/bin/python benchmarks/bench_ingest.py
    .venv/bin/python benchmarks/bench_ingest.py --corpus docs_corpus --repeat 2 --cli-first
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ingest.embed import get_encoder  # noqa: E402
from ingest.pipeline import ingest_paths  # noqa: E402
from ingest.store import open_store  # noqa: E402
from tradechat.settings import Settings  # noqa: E402

TRADECHAT = Path(sys.executable).with_name("tradechat")


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def load_avg() -> str:
    return "load avg {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def fresh_settings(tmp: Path, name: str) -> Settings:
    return Settings(data_dir=tmp / f"{name}-data", index_dir=tmp / f"{name}-index")


def embedded_texts(settings: Settings, encoder) -> list[str]:
    """The texts the ingest embedded, rebuilt from the index: heading path + passage."""
    store = open_store(settings, encoder.label, encoder.max_tokens)
    return [
        f"{c.meta.heading_path}\n{c.text}" if c.meta.heading_path else c.text
        for c in store.all_chunks()
    ]


# A child forked from this (large) process inherits its peak RSS figure, so `tradechat` is
# started by a small launcher, which reports the peak RSS of its own child on stderr.
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:])\n"
    "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(done.returncode)\n"
)


def run_cli(corpus: Path, index: Path) -> tuple[float, dict, float]:
    """(wall seconds, --json summary, peak RSS MB) of a `tradechat ingest` process."""
    env = {**os.environ, "TRADECHAT_INDEX_DIR": str(index)}
    command = [str(TRADECHAT), "ingest", str(corpus), "--index", str(index), "--json"]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *command],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"tradechat ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    rss_kb = int(done.stderr.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
    return seconds, json.loads(done.stdout), rss_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--repeat", type=int, default=1, help="alternate runs, keep the best")
    parser.add_argument(
        "--cli-first",
        action="store_true",
        help="also time a first run as a `tradechat ingest` subprocess",
    )
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="tc-bench-"))
    settings = fresh_settings(tmp, "run0")

    print(f"corpus: {corpus}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {load_avg()}")
    encoder = get_encoder(settings.embedding_model, settings.embedding_batch_size)
    started = time.perf_counter()
    encoder.model  # noqa: B018 - load the model outside the timings
    print(
        f"model load: {time.perf_counter() - started:.1f} s "
        f"({encoder.label}, batch size {encoder.batch_size}, "
        f"torch threads {__import__('torch').get_num_threads()})"
    )

    import chromadb  # noqa: F401 - a one-off import cost, outside the timings

    ingest_times: list[tuple[float, float]] = []  # (wall, cpu)
    encoder_times: list[tuple[float, float]] = []
    report = None
    texts: list[str] = []
    rss_after_ingest = 0.0
    for i in range(args.repeat):
        run_settings = settings if i == 0 else fresh_settings(tmp, f"run{i}")
        started, cpu = time.perf_counter(), time.process_time()
        report = ingest_paths([corpus], settings=run_settings, encoder=encoder, progress=False)
        ingest_times.append((time.perf_counter() - started, time.process_time() - cpu))
        if i == 0:
            rss_after_ingest = peak_rss_mb()
            texts = embedded_texts(settings, encoder)
        started, cpu = time.perf_counter(), time.process_time()
        encoder.embed(texts)
        encoder_times.append((time.perf_counter() - started, time.process_time() - cpu))
    assert report is not None
    chunks = report.chunks_added
    first, first_cpu = min(ingest_times)
    alone, alone_cpu = min(encoder_times)
    t = report.totals
    print()
    print(
        f"first run (in-process)   {first:7.1f} s wall {first_cpu:7.1f} s CPU  {chunks} chunks "
        f"{chunks / first:6.1f} chunks/s  files: {t['new']} new, {t['failed']} failed, "
        f"{t['skipped']} skipped  peak RSS {rss_after_ingest:.0f} MB  [{load_avg()}]"
    )
    print(
        f"encoder alone            {alone:7.1f} s wall {alone_cpu:7.1f} s CPU  {len(texts)} texts  "
        f"{len(texts) / alone:6.1f} chunks/s  (embed_text, batch {encoder.batch_size})"
    )
    print(
        f"ingest / encoder         {first / alone:7.2f} wall   {first_cpu / alone_cpu:7.2f} CPU"
        "   (target <= 1.30)"
    )
    if args.repeat > 1:
        print(
            "  ingest runs (wall/CPU s):  " + ", ".join(f"{w:.1f}/{c:.1f}" for w, c in ingest_times)
        )
        print(
            "  encoder runs (wall/CPU s): "
            + ", ".join(f"{w:.1f}/{c:.1f}" for w, c in encoder_times)
        )

    cli_seconds, summary, child_rss = run_cli(corpus, settings.resolved_index_dir)
    assert summary["embeddings_computed"] == 0, summary["totals"]
    started = time.perf_counter()
    again = ingest_paths([corpus], settings=settings, encoder=encoder, progress=False)
    inproc = time.perf_counter() - started
    print()
    print(
        f"unchanged re-run, CLI    {cli_seconds:7.2f} s  ({summary['totals']['unchanged']} "
        f"unchanged, 0 embedded; fresh `tradechat ingest` process, peak RSS {child_rss:.0f} MB)"
        f"  = {cli_seconds / first:.1%} of the first run (target < 10%)"
    )
    print(
        f"unchanged re-run, in-proc{inproc:7.2f} s  ({again.embeddings_computed} embedded)"
        f"  = {inproc / first:.1%} of the first run"
    )

    if args.cli_first:
        index = tmp / "cli-index"
        seconds, summary, child_rss = run_cli(corpus, index)
        print()
        print(
            f"first run, CLI           {seconds:7.1f} s  {summary['chunks_added']} chunks "
            f"{summary['chunks_added'] / seconds:6.1f} chunks/s  (model load and imports "
            f"included; peak RSS {child_rss:.0f} MB)  [{load_avg()}]"
        )
    print(f"\nindex left in {tmp}")


if __name__ == "__main__":
    main()
