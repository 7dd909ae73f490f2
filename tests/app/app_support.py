"""Helpers and fixtures for the web app tests: free ports, live uvicorn servers, real indexes.

Why not a conftest.py: this folder is named like the module under test, and it sorts before
tests/conftest.py. A conftest.py here would be first on sys.path as "conftest" when
--doctest-modules imports tests/conftest.py ("import file mismatch"), and `import app` finds
this folder (a namespace package) instead of app.py. So test modules take their fixtures
with ``from app_support import *``, and app.py as ``from app_support import webapp``.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS_CORPUS = ROOT / "docs_corpus"

# What `from app_support import *` brings: the fixtures.
__all__ = [
    "client_for",
    "corpus_copy",
    "corpus_index",
    "corpus_settings",
    "serve",
    "tiny_base",
    "tiny_settings",
]


def _load_app():
    """app.py as the module "app" (a plain `import app` from here finds this folder)."""
    module = sys.modules.get("app")
    if module is not None and getattr(module, "__file__", None) == str(ROOT / "app.py"):
        return module
    spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module


webapp = _load_app()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A uvicorn server running an ASGI app in a thread, on a free loopback port."""

    def __init__(self, app, root_path: str = ""):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            root_path=root_path,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def make_settings(base: Path, corpus: Path, **overrides):
    from tradechat.settings import Settings

    return Settings(
        data_dir=base / "data", index_dir=base / "index", corpus_dir=corpus, **overrides
    )


_BUILT: dict[str, tuple[Path, Path]] = {}


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory) -> tuple[Path, Path]:
    """(data folder, corpus folder): a real index of a copy of docs_corpus/, built once.

    Each test module that imports this fixture gets its own session fixture, hence the
    cache: the index is built once per run. Tests must not change it.
    """
    if "corpus" not in _BUILT:
        from ingest.pipeline import ingest_paths

        root = tmp_path_factory.mktemp("corpus")
        corpus = root / "docs_corpus"
        shutil.copytree(DOCS_CORPUS, corpus, ignore=shutil.ignore_patterns("*.py"))
        base = root / "indexed"
        report = ingest_paths([corpus], settings=make_settings(base, corpus), progress=False)
        assert report.totals["failed"] == 0, report.files
        _BUILT["corpus"] = (base, corpus)
    return _BUILT["corpus"]


TINY_MD = """# Port fees notice

The Harbour Board set the container port fee at 41 dollars per box from 1 March 2025.
Fees for empty containers stay at 12 dollars. The notice replaces the 2019 schedule.
"""

TINY_HTML = """<!doctype html><html><head><title>Quota licences</title></head><body>
<main><h1>Quota licences</h1><p>Softwood lumber quota licences are issued every quarter by
the trade ministry. An exporter must apply at least ten days before shipping.</p></main>
</body></html>"""


@pytest.fixture
def tiny_base(tmp_path) -> Path:
    """A fresh index of two tiny documents, for a test that changes the index."""
    from ingest.pipeline import ingest_paths

    corpus = tmp_path / "tiny_corpus"
    corpus.mkdir()
    (corpus / "port_fees.md").write_text(TINY_MD, encoding="utf-8")
    (corpus / "quota.html").write_text(TINY_HTML, encoding="utf-8")
    base = tmp_path / "tiny"
    ingest_paths([corpus], settings=make_settings(base, corpus), progress=False)
    return base


@pytest.fixture
def serve() -> Iterator[Callable[..., LiveServer]]:
    """``serve(app, root_path="")`` starts a live server, stopped after the test."""
    servers: list[LiveServer] = []

    def start(app, root_path: str = "") -> LiveServer:
        server = LiveServer(app, root_path).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def client_for() -> Iterator[Callable[[LiveServer], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(server: LiveServer, **kwargs) -> httpx.Client:
        client = httpx.Client(base_url=server.url, timeout=60, **kwargs)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def tiny_settings(tiny_base):
    """``tiny_settings(**overrides)``: settings for the tiny index."""
    return lambda **kw: make_settings(tiny_base, tiny_base.parent / "tiny_corpus", **kw)


@pytest.fixture
def corpus_copy(corpus_index) -> Path:
    return corpus_index[1]


@pytest.fixture
def corpus_settings(corpus_index):
    """``corpus_settings(**overrides)``: settings for the docs_corpus index (do not change it)."""
    return lambda **kw: make_settings(*corpus_index, **kw)
