"""`tradechat ingest` as a user runs it: a subprocess, its output and its exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TRADECHAT = Path(sys.executable).with_name("tradechat")


def tradechat(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [str(TRADECHAT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.fixture
def bad_and_good(text_corpus) -> Path:
    bad = text_corpus / "bad"
    bad.mkdir()
    (bad / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a PDF body\n%%EOF")
    (bad / "empty.md").write_bytes(b"")
    (bad / "data.txt").write_bytes(bytes(range(256)) * 8)
    (bad / "legacy.txt").write_bytes("Droits de douane : 5 €, voir l’annexe.\n".encode("cp1252"))
    (bad / "sheet.csv").write_text("a,b\n1,2\n")
    return text_corpus


def test_help_lists_the_options():
    done = tradechat("ingest", "--help")
    assert done.returncode == 0
    for option in ("--index", "--json", "--strict", "--chroma-url", "PATH"):
        assert option in done.stdout


def test_ingest_json_strict_and_rerun(bad_and_good, tmp_path):
    index = tmp_path / "cli-index"
    done = tradechat("ingest", str(bad_and_good), "--index", str(index), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # one JSON object, nothing else on stdout
    assert summary["totals"] == {
        "new": 6,
        "changed": 0,
        "unchanged": 0,
        "removed": 0,
        "failed": 3,
        "skipped": 1,
    }
    files = {f["source"]: f for f in summary["files"]}
    assert files["bad/legacy.txt"]["status"] == "new"
    assert files["bad/legacy.txt"]["reason"] == "not valid UTF-8; decoded as cp1252"
    assert files["bad/empty.md"]["reason"] == "empty file (0 bytes)"
    assert "PDF" in files["bad/broken.pdf"]["reason"]
    assert files["bad/data.txt"]["reason"].startswith("binary data")
    assert files["bad/sheet.csv"] == {
        "source": "bad/sheet.csv",
        "status": "skipped",
        "chunks_added": 0,
        "chunks_removed": 0,
        "reason": "unsupported file type '.csv'",
    }
    assert summary["chunks_added"] == summary["embeddings_computed"] > 0
    assert summary["index"] == str(index) and summary["collection"].startswith("tc-")

    # --strict: the same folder, now unchanged, still has failures -> exit 1; the
    # human-readable summary names every bad file on stderr.
    done = tradechat("ingest", str(bad_and_good), "--index", str(index), "--strict")
    assert done.returncode == 1
    assert "6 unchanged" in done.stdout and "(0 embedded)" in done.stdout
    for source in ("bad/broken.pdf", "bad/empty.md", "bad/data.txt", "bad/sheet.csv"):
        assert source in done.stderr
    assert "note     bad/legacy.txt: not valid UTF-8" not in done.stderr  # unchanged now
    assert "Traceback" not in done.stderr


def test_nothing_indexable_exits_1(tmp_path):
    folder = tmp_path / "only-bad"
    folder.mkdir()
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (folder / "empty.txt").write_bytes(b"")
    done = tradechat("ingest", str(folder), "--index", str(tmp_path / "idx"))
    assert done.returncode == 1
    assert "error: nothing could be indexed" in done.stderr
    assert "broken.pdf" in done.stderr and "empty.txt" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_folder_exits_1_with_a_reason(tmp_path):
    done = tradechat(
        "ingest", str(tmp_path / "nowhere"), "--index", str(tmp_path / "idx"), "--json"
    )
    assert done.returncode == 1
    (entry,) = json.loads(done.stdout)["files"]
    assert entry["reason"] == "no such file or folder"
