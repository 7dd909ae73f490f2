"""Ingest into a real Chroma server that the test starts on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from ingest.pipeline import ingest_paths
from ingest.store import open_store

pytestmark = pytest.mark.server

CHROMA = Path(sys.executable).with_name("chroma")
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_heartbeat(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"chroma exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail(f"chroma did not answer within {START_TIMEOUT:.0f}s: {log.read_text()[-2000:]}")


@pytest.fixture
def chroma_server(tmp_path):
    """URL of a fresh `chroma run` server; the process is always stopped afterwards."""
    if not CHROMA.exists():
        pytest.skip(f"no chroma executable next to {sys.executable}")
    port = free_port()
    log = tmp_path / "chroma.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                str(CHROMA),
                "run",
                "--path",
                str(tmp_path / "server-data"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_heartbeat(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def test_ingest_reingest_and_query_through_a_chroma_server(
    chroma_server, text_corpus, settings, encoder, tmp_path
):
    server_settings = settings.model_copy(update={"chroma_url": chroma_server})
    first = ingest_paths([text_corpus], settings=server_settings, encoder=encoder, progress=False)
    assert first.index == chroma_server
    assert first.totals["new"] == 5 and first.chunks_added > 5
    assert not (tmp_path / "index").exists()  # nothing went to the embedded index

    second = ingest_paths([text_corpus], settings=server_settings, encoder=encoder, progress=False)
    assert second.embeddings_computed == 0 and second.totals["unchanged"] == 5

    store = open_store(server_settings, encoder.label, encoder.max_tokens)
    assert store.name == first.collection and store.count() == first.chunks_added
    got = store.chunks.get(include=["documents"])
    assert len(set(got["ids"])) == len(got["ids"])
    assert not [t for t, n in Counter(got["documents"]).items() if n > 1]

    hits = store.query(encoder.embed_one("How can a Party withdraw from the accord?"), k=3)
    assert hits[0].meta.section_id == "Article 2205"
    assert hits[0].meta.source == "agreements/accord_excerpt.txt"
    assert 0 < hits[0].score <= 1.0001
