"""The web edge: one FastAPI application with the HTTP API, the Gradio chat UI and /embed.

Start it with ``tradechat serve`` or ``python app.py`` (same options)::

    tradechat serve --port 7860          # http://127.0.0.1:7860
    TRADECHAT_API_TOKEN=s3cret TRADECHAT_ALLOWED_ORIGINS='["https://portal.example.com"]' \\
        TRADECHAT_ROOT_PATH=/tradechat tradechat serve

Routes (below ``ROOT_PATH`` when served behind a reverse proxy):

    /                      the chat UI (Gradio)
    /embed                 a compact chat page for an iframe in a portal
    /api/...               the JSON API (``/docs`` lists it); bearer token when API_TOKEN is set
    /files/{source}        the original file of an indexed document
    /healthz               liveness and indexing status

The answering chain, its streaming variant and its cache reset are parameters of
``create_app`` so that tests can pass a real chain or a small fake. Importing this module is
cheap: Gradio, torch and the chain are imported when the app is built, not before.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from fastapi import Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.models import FileResult
from rag.models import Answer, Citation, Turn
from tradechat.errors import (
    BadRequestError,
    ConfigError,
    DocumentError,
    IndexNotFoundError,
    TradechatError,
)
from tradechat.settings import Settings, get_settings

log = logging.getLogger("tradechat.app")

WEB_DIR = Path(__file__).resolve().parent / "web"
STATIC_DIR = WEB_DIR / "static"

EXAMPLE_QUESTIONS = [
    "Why are Canada–Mexico relations at a low point?",
    "What regional value content does a passenger vehicle need under the USMCA?",
    "Which tariffs on Canada and Mexico were not covered by the USMCA exemption?",
    "Under Section 232, how long does Commerce have to report to the President?",
]

UPLOAD_TYPES = {  # extension -> what the loader accepts; a few bytes of magic for binaries
    ".txt": None,
    ".md": None,
    ".markdown": None,
    ".html": None,
    ".htm": None,
    ".pdf": b"%PDF-",
    ".docx": b"PK\x03\x04",
}
MAX_JSON_BYTES = 1_000_000  # any JSON request; a question is at most a few thousand chars
MAX_HISTORY_TURNS = 50
HISTORY_SENT = 10  # prior turns handed to the chain for a follow-up
CONTEXT_CHARS = 700  # document text shown on each side of a quote in the source panel
SESSION_PREFIX = "tcs1"

# Declared so that /docs shows a lock and an "Authorize" box; `Auth.check` does the checking.
BEARER = HTTPBearer(auto_error=False, description="The API token, or a session.")

AnswerFn = Callable[..., Answer]
StreamFn = Callable[..., Iterator[dict]]
ResetFn = Callable[..., None]


# ==========================================================================================
# Request and response models (the OpenAPI schema at /docs is generated from these)
# ==========================================================================================


class Filters(BaseModel):
    """Restrict retrieval to some documents or document kinds."""

    model_config = ConfigDict(extra="forbid")
    source: list[str] | None = Field(None, max_length=200, description="Document ids.")
    kind: list[str] | None = Field(
        None, max_length=10, description="agreement, legislation, article, note, document."
    )

    def as_dict(self) -> dict | None:
        out = {k: v for k, v in self.model_dump().items() if v}
        return out or None


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": EXAMPLE_QUESTIONS[0], "history": []}]},
    )
    question: str = Field(description="The question (limit: TRADECHAT_MAX_QUESTION_CHARS).")
    history: list[Turn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_TURNS,
        description="Earlier turns of the conversation, oldest first, for follow-ups.",
    )
    filters: Filters | None = None


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: Literal["up", "down"]
    question: str = Field(max_length=20_000)
    answer: str = Field(max_length=100_000)
    citations: list[Citation] = Field(default_factory=list, max_length=100)
    comment: str | None = Field(None, max_length=4000)


class FeedbackSaved(BaseModel):
    id: int


class DocumentInfo(BaseModel):
    id: str = Field(description="The document id: its path relative to the folder it came from.")
    title: str
    kind: str
    chunks: int
    pages: int
    origin: Literal["upload", "corpus", "other"]
    url: str = Field(description="Where to open the original file.")


class DocumentList(BaseModel):
    documents: list[DocumentInfo]
    indexing: dict


class UploadResult(BaseModel):
    document: DocumentInfo | None
    result: FileResult


class DeleteResult(BaseModel):
    id: str
    chunks_removed: int
    file_deleted: bool
    note: str | None = None


class PassageContext(BaseModel):
    id: str
    title: str
    page: int | None
    before: str
    quote: str
    after: str
    url: str


class SessionGrant(BaseModel):
    session: str | None = Field(
        description="Send as 'Authorization: Bearer <session>'; null when no token is needed."
    )
    expires_in: int | None = Field(description="Seconds until the session expires.")


class ErrorBody(BaseModel):
    error: str = Field(description="A stable code, e.g. 'invalid_json', 'question_too_long'.")
    message: str = Field(description="What went wrong and how to fix it.")


class ApiError(Exception):
    """An error that becomes ``{"error": code, "message": ...}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


# ==========================================================================================
# Index status, documents, feedback: what the API and the UI share
# ==========================================================================================


class IndexStatus:
    """Progress of the start-up indexing run, for /healthz and the UI's status pill."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state: Literal["idle", "indexing", "ready", "error"] = "idle"
        self.done = 0
        self.total = 0
        self.current = ""
        self.message = ""

    def start(self) -> None:
        with self._lock:
            self.state, self.done, self.total, self.current, self.message = (
                "indexing",
                0,
                0,
                "",
                "",
            )

    def progress(self, done: int, total: int, source: str) -> None:
        with self._lock:
            self.done, self.total, self.current = done, total, source

    def finish(self, message: str, error: bool = False) -> None:
        with self._lock:
            self.state = "error" if error else "ready"
            self.message = message
            self.current = ""

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "state": self.state,
                "done": self.done,
                "total": self.total,
                "current": self.current,
                "message": self.message,
            }


class FeedbackStore:
    """Thumbs up/down with the question, answer, citations and settings, in SQLite."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        client TEXT NOT NULL,
        rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
        comment TEXT,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        citations TEXT NOT NULL,
        settings TEXT NOT NULL
    )"""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        if not self._ready:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(self.SCHEMA)
            conn.commit()
            self._ready = True
        return conn

    def add(
        self,
        *,
        rating: str,
        question: str,
        answer: str,
        citations: list[dict],
        settings: dict,
        comment: str | None = None,
        client: str = "api",
    ) -> int:
        with self._lock, closing(self._connect()) as conn:
            cur = conn.execute(
                "INSERT INTO feedback (created_at, client, rating, comment, question, answer,"
                " citations, settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    client,
                    rating,
                    comment or None,
                    question,
                    answer,
                    json.dumps(citations, ensure_ascii=False),
                    json.dumps(settings, ensure_ascii=False, default=str),
                ),
            )
            conn.commit()
            return int(cur.lastrowid)

    def set_comment(self, feedback_id: int, comment: str) -> None:
        with self._lock, closing(self._connect()) as conn:
            conn.execute("UPDATE feedback SET comment = ? WHERE id = ?", (comment, feedback_id))
            conn.commit()

    def set_rating(self, feedback_id: int, rating: str) -> None:
        with self._lock, closing(self._connect()) as conn:
            conn.execute("UPDATE feedback SET rating = ? WHERE id = ?", (rating, feedback_id))
            conn.commit()

    def rows(self) -> list[dict]:
        with self._lock, closing(self._connect()) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM feedback ORDER BY id")]


def public_settings(settings: Settings) -> dict:
    """The settings as JSON, without secrets (tokens, keys, passwords in URLs)."""
    data = settings.model_dump(mode="json", exclude={"api_token", "llm_api_key"})
    for key, value in data.items():
        if isinstance(value, str) and "@" in value and "://" in value:
            parts = urlsplit(value)
            if parts.password or parts.username:
                host = parts.hostname or ""
                if parts.port:
                    host = f"{host}:{parts.port}"
                data[key] = urlunsplit((parts.scheme, host, parts.path, parts.query, ""))
    return data


def clean_upload_name(name: str | None) -> str:
    """The file name to store an upload under, or ``ApiError`` if it is unsafe.

    >>> clean_upload_name("Trade notes.md")
    'Trade notes.md'
    >>> clean_upload_name("../../etc/passwd.md")
    Traceback (most recent call last):
    ...
    app.ApiError: file name '../../etc/passwd.md' contains a path; upload a plain file name
    """
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise ApiError(400, "bad_filename", "the upload has no file name")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ApiError(
            400, "bad_filename", f"file name {name!r} contains a path; upload a plain file name"
        )
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        raise ApiError(400, "bad_filename", "file name contains control characters")
    if name.startswith("."):
        raise ApiError(400, "bad_filename", f"hidden file names are not indexed: {name!r}")
    if len(name.encode()) > 200:
        raise ApiError(400, "bad_filename", "file name is longer than 200 bytes")
    return name


class Backend:
    """Everything behind the API and the UI: the index, uploads, feedback, the chain."""

    def __init__(
        self, settings: Settings, answer_fn: AnswerFn, stream_fn: StreamFn, reset_fn: ResetFn
    ):
        self.settings = settings
        self.answer_fn = answer_fn
        self.stream_fn = stream_fn
        self.reset_fn = reset_fn
        self.status = IndexStatus()
        self.feedback = FeedbackStore(settings.feedback_db)
        self._store = None
        self._store_lock = threading.Lock()
        self._docs_lock = threading.Lock()  # one upload/delete at a time
        self._texts: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._texts_lock = threading.Lock()
        self.root = settings.root_path.rstrip("/")

    # --- the index ----------------------------------------------------------------------
    @property
    def store(self):
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    from ingest.embed import get_encoder
                    from ingest.store import open_store

                    s = self.settings
                    encoder = get_encoder(s.embedding_model, s.embedding_batch_size)
                    self._store = open_store(s, encoder.label, encoder.max_tokens)
        return self._store

    @property
    def uploads_dir(self) -> Path:
        return self.settings.uploads_dir.resolve()

    def records(self) -> dict:
        return self.store.file_records()

    def file_url(self, source: str, page: int | None = None, quote_text: str | None = None) -> str:
        """Link to the original file, at the page (PDF) or the quoted text (others)."""
        url = f"{self.root}/files/{quote(source)}"
        if page:
            return f"{url}#page={page}"
        if quote_text:  # a text fragment: the browser scrolls to and highlights the words
            words = re.findall(r"\S+", quote_text)[:8]
            if words:
                return f"{url}#:~:text={quote(' '.join(words), safe='')}"
        return url

    def _origin(self, root: str) -> Literal["upload", "corpus", "other"]:
        try:
            path = Path(root).resolve()
        except (OSError, ValueError):
            return "other"
        if path == self.uploads_dir:
            return "upload"
        if path == Path(self.settings.corpus_dir).resolve():
            return "corpus"
        return "other"

    def _info(self, rec) -> DocumentInfo:
        return DocumentInfo(
            id=rec.source,
            title=rec.title or rec.source,
            kind=rec.kind,
            chunks=rec.n_chunks,
            pages=len(rec.pages),
            origin=self._origin(rec.root),
            url=self.file_url(rec.source),
        )

    def documents(self) -> list[DocumentInfo]:
        docs = [self._info(r) for r in self.records().values()]
        return sorted(docs, key=lambda d: (d.origin != "upload", d.title.lower()))

    def document_text(self, source: str, file_hash: str) -> str | None:
        key = (source, file_hash)
        with self._texts_lock:
            if key in self._texts:
                self._texts.move_to_end(key)
                return self._texts[key]
        text = self.store.document_text(source)
        if text is not None:
            with self._texts_lock:
                self._texts[key] = text
                while len(self._texts) > 32:
                    self._texts.popitem(last=False)
        return text

    def context(
        self,
        source: str,
        start: int,
        end: int,
        quote_text: str | None = None,
        chars: int = CONTEXT_CHARS,
    ) -> PassageContext:
        """The quoted passage with the document text around it."""
        rec = self.records().get(source)
        if rec is None:
            raise ApiError(404, "no_such_document", f"no document {source!r} in the index")
        text = self.document_text(source, rec.file_hash) or ""
        if quote_text and text[start:end] != quote_text:  # re-ingested since the answer
            found = text.find(quote_text)
            if found >= 0:
                start, end = found, found + len(quote_text)
        if not (0 <= start < end <= len(text)):
            raise ApiError(
                400,
                "bad_span",
                f"start/end ({start}, {end}) are outside {source!r} ({len(text)} characters)",
            )
        lo = max(0, start - chars)
        hi = min(len(text), end + chars)
        # Cut at a word boundary so the context does not start or end mid-word.
        if lo > 0:
            space = text.find(" ", lo, start)
            lo = space + 1 if space >= 0 else lo
        if hi < len(text):
            space = text.rfind(" ", end, hi)
            hi = space if space >= 0 else hi
        page = None
        for span in rec.pages:
            if span.get("start", 0) <= start < span.get("end", 0):
                page = span.get("page")
        return PassageContext(
            id=source,
            title=rec.title or source,
            page=page,
            before=("…" if lo > 0 else "") + text[lo:start],
            quote=text[start:end],
            after=text[end:hi] + ("…" if hi < len(text) else ""),
            url=self.file_url(source, page, text[start:end]),
        )

    def original_file(self, source: str) -> Path:
        """The file an indexed document came from; 404 for anything not in the manifest."""
        rec = self.records().get(source)
        if rec is None or not rec.root:
            raise ApiError(404, "no_such_document", f"no document {source!r} in the index")
        root = Path(rec.root).resolve()
        path = (root / source).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise ApiError(
                404, "file_missing", f"{source!r} is indexed but its file is no longer in {root}"
            )
        return path

    # --- indexing -------------------------------------------------------------------------
    def ingest_corpus(self) -> None:
        """Index ``settings.corpus_dir`` incrementally (run in a background thread)."""
        from ingest.pipeline import ingest_paths

        corpus = Path(self.settings.corpus_dir)
        self.status.start()
        if not corpus.is_dir():
            self.status.finish(
                f"corpus folder {corpus} not found (TRADECHAT_CORPUS_DIR)", error=True
            )
            return
        try:
            report = ingest_paths(
                [corpus],
                settings=self.settings,
                store=self.store,
                progress=False,
                on_file=self.status.progress,
            )
            self.reset_fn(self.settings)
        except TradechatError as exc:
            log.error("indexing %s failed: %s", corpus, exc)
            self.status.finish(str(exc), error=True)
            return
        except Exception as exc:  # the thread must report, not die silently
            log.exception("indexing %s crashed", corpus)
            self.status.finish(f"indexing failed ({type(exc).__name__}: {exc})", error=True)
            return
        t = report.totals
        failed = [f"{f.source}: {f.reason}" for f in report.files if f.status == "failed"]
        msg = (
            f"{t['new'] + t['changed'] + t['unchanged']} documents from {corpus.name}/ "
            f"({t['new']} new, {t['changed']} changed) in {report.seconds:.1f}s"
        )
        if failed:
            msg += "; failed: " + "; ".join(failed)
        log.info("indexed: %s", msg)
        self.status.finish(msg)

    def save_upload(self, filename: str | None, fileobj, on_file=None) -> UploadResult:
        """Store an uploaded file under the uploads folder and index it.

        Raises ``ApiError`` for a bad name (400), type (415), size (413) or a name taken by
        a document from another folder (409); a file the loader cannot read is 422.
        """
        from ingest.pipeline import ingest_paths

        name = clean_upload_name(filename)
        ext = Path(name).suffix.lower()
        if ext not in UPLOAD_TYPES:
            raise ApiError(
                415,
                "unsupported_type",
                f"{name}: '{ext or '(none)'}' files are not supported; upload "
                + ", ".join(sorted(UPLOAD_TYPES)),
            )
        limit = int(self.settings.max_upload_mb * 1_000_000)
        uploads = self.uploads_dir
        with self._docs_lock:
            uploads.mkdir(parents=True, exist_ok=True)
            rec = self.records().get(name)
            if rec is not None and self._origin(rec.root) != "upload":
                raise ApiError(
                    409,
                    "name_taken",
                    f"{name!r} is already indexed from {rec.root}; rename the "
                    "file to upload it as a separate document",
                )
            target = uploads / name
            part = uploads / f".{name}.part"
            backup = uploads / f".{name}.previous"
            size = 0
            try:
                with part.open("wb") as out:
                    while block := fileobj.read(1 << 20):
                        size += len(block)
                        if size > limit:
                            raise ApiError(
                                413,
                                "file_too_large",
                                f"{name} is over the {self.settings.max_upload_mb:g}"
                                " MB upload limit (TRADECHAT_MAX_UPLOAD_MB)",
                            )
                        out.write(block)
                if size == 0:
                    raise ApiError(400, "empty_file", f"{name} is empty")
                magic = UPLOAD_TYPES[ext]
                if magic is not None:
                    with part.open("rb") as fh:
                        if not fh.read(len(magic)) == magic:
                            raise ApiError(
                                415, "wrong_content", f"{name} does not look like a {ext} file"
                            )
                if target.exists():
                    os.replace(target, backup)
                os.replace(part, target)
            finally:
                part.unlink(missing_ok=True)
            report = ingest_paths(
                [uploads], settings=self.settings, store=self.store, progress=False, on_file=on_file
            )
            result = next(
                (f for f in report.files if f.source == name),
                FileResult(source=name, status="failed", reason="not indexed"),
            )
            if result.status in ("failed", "skipped"):
                target.unlink(missing_ok=True)
                if backup.exists():  # a bad replacement: the last good file stays
                    os.replace(backup, target)
                raise ApiError(
                    422,
                    "unreadable_document",
                    f"{name} could not be indexed: {result.reason or result.status}",
                )
            backup.unlink(missing_ok=True)
            self.reset_fn(self.settings)
            rec = self.records().get(name)
            return UploadResult(document=self._info(rec) if rec else None, result=result)

    def delete_document(self, source: str) -> DeleteResult:
        """Remove a document's chunks from the index, and its file if it was uploaded."""
        from ingest.pipeline import remove_document

        with self._docs_lock:
            rec = self.records().get(source)
            if rec is None:
                raise ApiError(404, "no_such_document", f"no document {source!r} in the index")
            origin = self._origin(rec.root)
            file_deleted = False
            if origin == "upload":
                path = (self.uploads_dir / source).resolve()
                if path.is_relative_to(self.uploads_dir) and path.is_file():
                    path.unlink()
                    file_deleted = True
            removed = remove_document(source, settings=self.settings, store=self.store)
            self.reset_fn(self.settings)
        note = None
        if origin != "upload":
            note = (
                f"removed from the index; the file stays in {rec.root} and comes back "
                "the next time that folder is indexed"
            )
        return DeleteResult(id=source, chunks_removed=removed, file_deleted=file_deleted, note=note)

    # --- answering ------------------------------------------------------------------------
    def check_question(self, question: str) -> str:
        question = (question or "").strip()
        if not question:
            raise ApiError(400, "empty_question", "the question is empty")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise ApiError(
                413,
                "question_too_long",
                f"the question is {len(question)} characters; the limit is {limit} "
                "(TRADECHAT_MAX_QUESTION_CHARS)",
            )
        return question

    def ask(
        self, question: str, history: list[Turn] | None = None, filters: dict | None = None
    ) -> Answer:
        question = self.check_question(question)
        return self.answer_fn(
            question, history=history or None, settings=self.settings, filters=filters
        )

    def stream(
        self, question: str, history: list[Turn] | None = None, filters: dict | None = None
    ) -> Iterator[dict]:
        question = self.check_question(question)
        return self.stream_fn(
            question, history=history or None, settings=self.settings, filters=filters
        )


# ==========================================================================================
# Access control: bearer token, browser sessions, request size, security headers
# ==========================================================================================


class Auth:
    """``/api/*`` access when ``API_TOKEN`` is set.

    A client sends ``Authorization: Bearer <token>``: either the API token itself (servers,
    scripts, a portal's back end) or a *session*, a short-lived signed ticket that
    ``POST /api/session`` hands to a same-origin page (``/embed``) or to a caller holding the
    API token (a portal minting one for its user's browser). The API token is never written
    into a page. Sessions may ask, stream, read documents and send feedback; uploading and
    deleting documents needs the API token.
    """

    def __init__(self, settings: Settings):
        secret = settings.api_token.get_secret_value() if settings.api_token else ""
        self.token = secret or None
        # Derived, so that several workers started with the same token share sessions, and
        # a session reveals nothing about the token.
        self._key = hmac.new(secret.encode(), b"tradechat session v1", hashlib.sha256).digest()
        self.ttl = settings.session_minutes * 60

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def issue(self) -> tuple[str, int]:
        expires = int(time.time()) + self.ttl
        body = f"{SESSION_PREFIX}.{expires}"
        sig = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:40]
        return f"{body}.{sig}", self.ttl

    def is_session(self, value: str) -> bool:
        parts = value.split(".")
        if len(parts) != 3 or parts[0] != SESSION_PREFIX or not parts[1].isdigit():
            return False
        body = f"{parts[0]}.{parts[1]}"
        sig = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:40]
        return hmac.compare_digest(sig, parts[2]) and int(parts[1]) > time.time()

    def is_token(self, value: str) -> bool:
        return self.token is not None and hmac.compare_digest(value.encode(), self.token.encode())

    def bearer(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def check(self, request: Request, manage: bool) -> None:
        if not self.enabled:
            return
        value = self.bearer(request)
        unauthorized = {"WWW-Authenticate": 'Bearer realm="tradechat"'}
        if value is None:
            raise ApiError(
                401,
                "unauthorized",
                "this API needs 'Authorization: Bearer <token>' (TRADECHAT_API_TOKEN)",
                unauthorized,
            )
        if self.is_token(value):
            return
        if self.is_session(value):
            if manage:
                raise ApiError(
                    403, "forbidden", "a browser session cannot change documents; use the API token"
                )
            return
        raise ApiError(
            401, "unauthorized", "the bearer token or session is invalid or expired", unauthorized
        )


def _route_path(scope: dict) -> str:
    """The path without the root path (what routing sees)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for request bodies over the limit, counted as they stream in (no Content-Length
    needed), before a multipart parser can spool a huge upload to disk."""

    def __init__(self, app, upload_limit: int, json_limit: int = MAX_JSON_BYTES):
        self.app = app
        self.upload_limit = upload_limit
        self.json_limit = json_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _route_path(scope).startswith("/api/"):
            return await self.app(scope, receive, send)
        path = _route_path(scope)
        is_upload = path.rstrip("/") == "/api/documents" and scope["method"] == "POST"
        limit = self.upload_limit + 256_000 if is_upload else self.json_limit
        message = (
            f"the upload is over the {self.upload_limit / 1e6:g} MB limit (TRADECHAT_MAX_UPLOAD_MB)"
            if is_upload
            else f"the request body is over {limit // 1000} kB"
        )
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                return await _send_json(send, 413, "too_large", message)
        received = 0
        exceeded = False
        started = False

        async def limited_receive():
            nonlocal received, exceeded
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge()
            return event

        async def guarded_send(event):
            nonlocal started
            if exceeded:  # whatever the app made of the aborted body, the answer is 413
                if not started:
                    started = True
                    await _send_json(send, 413, "too_large", message)
                return
            if event["type"] == "http.response.start":
                started = True
            await send(event)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, "too_large", message)
        except Exception:
            if exceeded and not started:
                await _send_json(send, 413, "too_large", message)
            elif not exceeded:
                raise


async def _send_json(send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class CrashMiddleware:
    """An unexpected exception becomes a 500 JSON error (logged with its traceback), and the
    connection stays usable: nothing a client sends can take the server down."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(event):
            nonlocal started
            if event["type"] == "http.response.start":
                started = True
            await send(event)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await _send_json(
                    send, 500, "internal_error", "internal error; the server log has the details"
                )


class SecurityHeadersMiddleware:
    """nosniff, a referrer policy, and who may frame what: only ``/embed`` may be framed by
    the allowed portal origins; everything else only by this origin."""

    def __init__(self, app, allowed_origins: list[str]):
        self.app = app
        self.embed_ancestors = " ".join(["'self'", *allowed_origins])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_embed = _route_path(scope).rstrip("/") == "/embed"

        async def with_headers(event):
            if event["type"] == "http.response.start":
                headers = list(event.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"strict-origin-when-cross-origin"))
                if b"content-security-policy" not in names:
                    ancestors = self.embed_ancestors if is_embed else "'self'"
                    headers.append(
                        (b"content-security-policy", f"frame-ancestors {ancestors}".encode())
                    )
                if not is_embed:
                    headers.append((b"x-frame-options", b"SAMEORIGIN"))
                event = {**event, "headers": headers}
            await send(event)

        await self.app(scope, receive, with_headers)


# ==========================================================================================
# HTML rendering (server side, for the Gradio UI): everything from a document is escaped
# ==========================================================================================

_CITE_MARK = re.compile(r"\[(\d{1,3})\]")


def esc(text: Any) -> str:
    """HTML-escape, and also neutralise ``$ { } ` `` so that no template syntax survives
    (Gradio's HTML component evaluates ``${...}``-style templates).

    >>> esc('<img src=x onerror="alert(1)"> ${x} {{y}}')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &#36;&#123;x&#125; &#123;&#123;y&#125;&#125;'
    """
    out = html.escape(str(text), quote=True)
    return (
        out.replace("$", "&#36;")
        .replace("{", "&#123;")
        .replace("}", "&#125;")
        .replace("`", "&#96;")
    )


def _paragraphs(text: str) -> str:
    """Escaped text with paragraph breaks as <br>, on one line: the chatbot's Markdown
    renderer treats one line that starts with an HTML tag as raw HTML and leaves it alone."""
    parts = [esc(p.strip()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "<br><br>".join(p.replace("\n", "<br>") for p in parts)


def _citation_label(c: Citation) -> str:
    return " · ".join(x for x in (c.section, f"p. {c.page}" if c.page else None) if x)


def render_answer(answer: Answer, turn: int) -> str:
    """The assistant bubble: answer text with clickable [n] markers, then its sources."""
    known = {c.n: c for c in answer.citations}

    def marker(m: re.Match) -> str:
        n = int(m.group(1))
        c = known.get(n)
        if c is None:  # a marker that points at no citation is never shown
            return ""
        return f'<a class="tc-cite" href="#tc-cite-{turn}-{n}" title="{esc(c.title)}">{n}</a>'

    body = esc(answer.answer.strip())
    body = _CITE_MARK.sub(marker, body)
    body = "<br><br>".join(p.replace("\n", "<br>") for p in re.split(r"\n\s*\n", body) if p.strip())
    cls = "tc-answer tc-refused" if answer.refused else "tc-answer"
    out = [f'<div class="{cls}">{body}']
    if answer.citations:
        items = []
        for c in answer.citations:
            where = _citation_label(c)
            items.append(
                f'<li><a class="tc-cite" href="#tc-cite-{turn}-{c.n}">{c.n}</a> '
                f'<span class="tc-src-title">{esc(c.title)}</span>'
                + (f' <span class="tc-src-where">{esc(where)}</span>' if where else "")
                + "</li>"
            )
        out.append(
            f'<div class="tc-sources"><span class="tc-sources-label">Sources</span>'
            f"<ol>{''.join(items)}</ol></div>"
        )
    out.append("</div>")
    return "".join(out)


def render_pending(text: str) -> str:
    body = _paragraphs(text) if text.strip() else ""
    return (
        f'<div class="tc-answer tc-streaming">{body}'
        '<span class="tc-caret" aria-hidden="true"></span></div>'
    )


def render_error(message: str) -> str:
    return (
        f'<div class="tc-answer tc-error"><strong>Could not answer.</strong> {esc(message)}</div>'
    )


def render_user(text: str) -> str:
    return f'<div class="tc-question">{_paragraphs(text)}</div>'


SOURCE_EMPTY = (
    '<div class="tc-panel-empty"><div class="tc-panel-icon">❝</div>'
    "<p>Click a numbered marker in an answer to read the passage it comes from, "
    "in its place in the document.</p></div>"
)


def render_source(c: Citation, ctx: PassageContext) -> str:
    meta = []
    if c.section:
        meta.append(f'<span class="tc-meta-section">{esc(c.section)}</span>')
    page = c.page or ctx.page
    if page:
        meta.append(f'<span class="tc-meta-page">page {esc(page)}</span>')
    meta.append(f'<span class="tc-meta-file">{esc(c.source)}</span>')
    return (
        '<article class="tc-source">'
        f'<header><span class="tc-source-n">{c.n}</span><h3>{esc(ctx.title)}</h3></header>'
        f'<div class="tc-source-meta">{" ".join(meta)}</div>'
        f'<div class="tc-source-text">{esc(ctx.before)}<mark>{esc(ctx.quote)}</mark>'
        f"{esc(ctx.after)}</div>"
        f'<a class="tc-open" href="{esc(ctx.url)}" target="_blank" rel="noopener noreferrer">'
        "Open the original file ↗</a></article>"
    )


def render_documents(docs: list[DocumentInfo]) -> str:
    if not docs:
        return (
            '<div class="tc-panel-empty"><p>No documents indexed yet. Add PDF, Word, '
            "HTML, Markdown or text files above.</p></div>"
        )
    rows = []
    badge = {"upload": "uploaded", "corpus": "bundled", "other": "indexed"}
    for d in docs:
        pages = f" · {d.pages} pages" if d.pages else ""
        rows.append(
            '<li class="tc-doc">'
            f'<div class="tc-doc-main"><a class="tc-doc-title" href="{esc(d.url)}" '
            f'target="_blank" rel="noopener noreferrer">{esc(d.title)}</a>'
            f'<div class="tc-doc-meta"><span class="tc-badge tc-badge-{d.origin}">'
            f"{badge[d.origin]}</span> {esc(d.id)} · {d.chunks} passages{pages}</div></div>"
            f'<button class="tc-del" type="button" title="Remove from the index" '
            f'aria-label="Remove {esc(d.title)}" value="{esc(d.id)}">✕</button></li>'
        )
    return f'<ul class="tc-docs">{"".join(rows)}</ul>'


def render_status(snapshot: dict, n_docs: int | None) -> str:
    state = snapshot["state"]
    if state == "indexing":
        done, total = snapshot["done"], snapshot["total"]
        text = f"Indexing {done} of {total} files" if total else "Indexing documents…"
        cls = "busy"
    elif state == "error":
        text, cls = "Indexing problem", "error"
    elif n_docs:
        text, cls = f"{n_docs} documents indexed", "ok"
    else:
        text, cls = "No documents yet", "warn"
    title = esc(snapshot.get("message") or text)
    return (
        f'<span class="tc-status tc-status-{cls}" title="{title}">'
        f'<span class="tc-dot"></span>{esc(text)}</span>'
    )


# ==========================================================================================
# The application
# ==========================================================================================


def _default_answer(*args, **kwargs) -> Answer:
    from rag.chain import answer_question

    return answer_question(*args, **kwargs)


def _default_stream(*args, **kwargs) -> Iterator[dict]:
    from rag.chain import stream_answer

    return stream_answer(*args, **kwargs)


def _default_reset(*args, **kwargs) -> None:
    from rag.chain import reset_cache

    reset_cache(*args, **kwargs)


_DOMAIN_ERRORS: list[tuple[type, int, str]] = [
    (BadRequestError, 400, "bad_request"),
    (IndexNotFoundError, 503, "index_empty"),
    (DocumentError, 422, "document_error"),
    (ConfigError, 503, "not_configured"),
    (TradechatError, 500, "error"),
]


def _domain_error(exc: TradechatError) -> tuple[int, str]:
    for cls, status, code in _DOMAIN_ERRORS:
        if isinstance(exc, cls):
            return status, code
    return 500, "error"


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def create_app(
    settings: Settings | None = None,
    answer_fn: AnswerFn | None = None,
    stream_fn: StreamFn | None = None,
    reset_fn: ResetFn | None = None,
    ui: bool = True,
) -> FastAPI:
    """Build the web app: API, /embed, /files, and (``ui=True``) the Gradio chat UI at /.

    Args:
        answer_fn, stream_fn, reset_fn: the answering chain (default: ``rag.chain``'s
            ``answer_question``, ``stream_answer`` and ``reset_cache``).
        ui: mount the Gradio UI (tests of the API alone can skip it: it takes seconds).
    """
    settings = settings or get_settings()
    backend = Backend(
        settings,
        answer_fn or _default_answer,
        stream_fn or _default_stream,
        reset_fn or _default_reset,
    )
    auth = Auth(settings)
    app = FastAPI(
        title="tradechat",
        version="0.1.0",
        summary="Answers from trade documents, every claim cited.",
        description=(
            "Ask questions over the indexed trade documents; every answer carries its "
            "citations (document, section, page, verbatim quote and offsets).\n\n"
            "When `TRADECHAT_API_TOKEN` is set, `/api/*` needs `Authorization: Bearer "
            "<token>` (or a session from `POST /api/session`). Errors are JSON: "
            '`{"error": code, "message": text}`.'
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.backend = backend
    app.state.auth = auth

    # --- errors ----------------------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(TradechatError)
    async def _tradechat_error(request: Request, exc: TradechatError):
        status, code = _domain_error(exc)
        return _error(status, code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            ctx = next(e for e in errors if e.get("type") == "json_invalid").get("ctx") or {}
            return _error(
                400,
                "invalid_json",
                f"the request body is not valid JSON ({ctx.get('error', 'parse error')})",
            )
        msgs = []
        for e in errors[:5]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            msgs.append(f"{loc or 'body'}: {e.get('msg')}")
        return _error(422, "invalid_request", "; ".join(msgs))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        message = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:  # FastAPI's wording
            if "json" in request.headers.get("content-type", ""):
                code, message = "invalid_json", "the request body is not valid UTF-8 JSON"
            else:
                code, message = "invalid_body", "the request body could not be parsed"
        return _error(exc.status_code, code, message, getattr(exc, "headers", None))

    # --- middleware (last added runs first) ------------------------------------------------
    from fastapi.middleware.cors import CORSMiddleware

    app.add_middleware(CrashMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, allowed_origins=settings.allowed_origins)
    app.add_middleware(BodyLimitMiddleware, upload_limit=int(settings.max_upload_mb * 1_000_000))
    # Added even with no allowed origins: its presence stops Gradio adding a permissive one.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )

    def chat_access(request: Request, _: Annotated[Any, Depends(BEARER)] = None) -> None:
        auth.check(request, manage=False)

    def manage_access(request: Request, _: Annotated[Any, Depends(BEARER)] = None) -> None:
        auth.check(request, manage=True)

    errors = {s: {"model": ErrorBody} for s in (400, 401, 413, 422, 503)}

    # --- API -----------------------------------------------------------------------------
    @app.post(
        "/api/ask",
        summary="Ask a question",
        response_model=Answer,
        tags=["ask"],
        responses=errors,
        dependencies=[Depends(chat_access)],
    )
    def api_ask(body: AskRequest) -> Any:
        """Answer a question, with citations (the JSON of `tradechat ask --json`)."""
        filters = body.filters.as_dict() if body.filters else None
        answer = backend.ask(body.question, body.history, filters)
        return JSONResponse(answer.model_dump(mode="json", exclude={"standalone_question"}))

    @app.post(
        "/api/ask/stream",
        summary="Ask, with the answer streamed (SSE)",
        tags=["ask"],
        responses={
            200: {
                "content": {"text/event-stream": {}},
                "description": '`event: token` (data: {"text": piece}) repeated, then one '
                "`event: answer` (data: the Answer JSON); `event: error` "
                "(data: {error, message}) if it fails midway.",
            },
            **errors,
        },
        dependencies=[Depends(chat_access)],
    )
    async def api_ask_stream(body: AskRequest) -> StreamingResponse:
        """Answer a question as server-sent events: tokens first, then the cited answer."""
        filters = body.filters.as_dict() if body.filters else None
        events = await run_in_threadpool(backend.stream, body.question, body.history, filters)
        sentinel = object()
        # The first event is fetched before the response starts, so that a bad question or
        # an empty index still gets a proper 4xx/5xx status instead of a broken stream.
        first = await run_in_threadpool(next, events, sentinel)

        def generate() -> Iterator[bytes]:
            event = first
            try:
                while event is not sentinel:
                    kind, data = event.get("event"), event.get("data")
                    if kind == "answer" and isinstance(data, Answer):
                        yield _sse(
                            "answer", data.model_dump(mode="json", exclude={"standalone_question"})
                        )
                    elif kind == "token":
                        yield _sse("token", {"text": str(data)})
                    event = next(events, sentinel)
            except TradechatError as exc:
                status, code = _domain_error(exc)
                yield _sse("error", {"error": code, "message": str(exc)})
            except Exception:
                log.exception("streaming an answer failed")
                yield _sse(
                    "error",
                    {
                        "error": "internal_error",
                        "message": "internal error; the server log has the details",
                    },
                )

        return StreamingResponse(
            generate(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.get(
        "/api/documents",
        summary="List the indexed documents",
        response_model=DocumentList,
        tags=["documents"],
        dependencies=[Depends(chat_access)],
    )
    def api_documents() -> DocumentList:
        """Every indexed document (uploaded or from an indexed folder), and indexing status."""
        return DocumentList(documents=backend.documents(), indexing=backend.status.snapshot())

    @app.post(
        "/api/documents",
        summary="Upload a document",
        status_code=201,
        response_model=UploadResult,
        tags=["documents"],
        dependencies=[Depends(manage_access)],
        responses={s: {"model": ErrorBody} for s in (400, 401, 403, 409, 413, 415, 422)},
    )
    def api_upload(
        file: Annotated[UploadFile, File(description="A .pdf .docx .html .htm .md .txt file")],
    ) -> UploadResult:
        """Upload a document (multipart field `file`); it is indexed before this returns."""
        return backend.save_upload(file.filename, file.file)

    @app.delete(
        "/api/documents/{doc_id:path}",
        summary="Remove a document",
        response_model=DeleteResult,
        tags=["documents"],
        dependencies=[Depends(manage_access)],
        responses={s: {"model": ErrorBody} for s in (401, 403, 404)},
    )
    def api_delete(doc_id: str) -> DeleteResult:
        """Remove a document's passages from the index (and its file, if it was uploaded)."""
        return backend.delete_document(doc_id)

    @app.get(
        "/api/context",
        summary="A cited passage in its context",
        response_model=PassageContext,
        tags=["documents"],
        dependencies=[Depends(chat_access)],
    )
    def api_context(
        source: str = Query(max_length=1000),
        start: int = Query(ge=0),
        end: int = Query(ge=1),
        chars: int = Query(CONTEXT_CHARS, ge=0, le=5000),
    ) -> PassageContext:
        """A cited passage with the document text around it (for a source panel)."""
        return backend.context(source, start, end, chars=chars)

    @app.post(
        "/api/feedback",
        summary="Rate an answer",
        status_code=201,
        response_model=FeedbackSaved,
        tags=["feedback"],
        dependencies=[Depends(chat_access)],
    )
    def api_feedback(body: FeedbackRequest, request: Request) -> FeedbackSaved:
        """Record a thumbs up/down (and an optional comment) on an answer."""
        client = "embed" if request.headers.get("x-tradechat-client") == "embed" else "api"
        fid = backend.feedback.add(
            rating=body.rating,
            question=body.question,
            answer=body.answer,
            citations=[c.model_dump(mode="json") for c in body.citations],
            settings=public_settings(settings),
            comment=body.comment,
            client=client,
        )
        return FeedbackSaved(id=fid)

    @app.post(
        "/api/session",
        summary="Get a browser session",
        response_model=SessionGrant,
        tags=["access"],
        responses={401: {"model": ErrorBody}},
    )
    def api_session(request: Request) -> SessionGrant:
        """A short-lived session for a browser page.

        Given to a page of this site (same-origin request, as /embed makes), or to a caller
        that holds the API token (a portal back end minting one for its user's browser).
        Returns a null session when no API token is configured.
        """
        if not auth.enabled:
            return SessionGrant(session=None, expires_in=None)
        value = auth.bearer(request)
        same_origin = request.headers.get("sec-fetch-site") == "same-origin"
        if not (same_origin or (value and auth.is_token(value))):
            raise ApiError(
                401,
                "unauthorized",
                "sessions are given to this site's own pages or to holders of the API token",
                {"WWW-Authenticate": 'Bearer realm="tradechat"'},
            )
        session, ttl = auth.issue()
        return SessionGrant(session=session, expires_in=ttl)

    @app.api_route(
        "/api/{rest:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    def api_not_found(rest: str, request: Request):
        # Keeps unknown /api paths out of the Gradio app mounted at "/", and JSON.
        path = f"/api/{rest}"
        allowed = sorted(
            {
                m
                for r in app.routes
                if isinstance(r, APIRoute)
                and r.methods
                and r.path_regex.match(path)
                and r.endpoint is not api_not_found
                for m in r.methods
            }
        )
        if allowed:
            return _error(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {path}; use {', '.join(allowed)}",
                {"Allow": ", ".join(allowed)},
            )
        return _error(404, "not_found", f"no API endpoint {request.method} {path}")

    # --- pages and files -----------------------------------------------------------------
    @app.get("/healthz", summary="Health and indexing status", tags=["status"])
    def healthz() -> dict:
        """Liveness, and the state of the start-up indexing run."""
        return {"status": "ok", "indexing": backend.status.snapshot()}

    @app.get(
        "/files/{source:path}",
        summary="Open an original file",
        tags=["documents"],
        responses={404: {"model": ErrorBody}},
    )
    def original_file(source: str) -> FileResponse:
        """The original file of an indexed document (PDFs open at `#page=N`)."""
        path = backend.original_file(source)
        ext = path.suffix.lower()
        media = {
            ".pdf": "application/pdf",
            ".html": "text/html; charset=utf-8",
            ".htm": "text/html; charset=utf-8",
            ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        }.get(ext, "text/plain; charset=utf-8")
        headers = {"Cache-Control": "no-cache"}
        if ext != ".pdf":
            # A document is data, not code: scripts in an HTML file do not run, and it gets
            # an opaque origin. (Chrome's PDF viewer refuses to render under `sandbox`.)
            headers["Content-Security-Policy"] = (
                "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                "frame-ancestors 'self'"
            )
        return FileResponse(
            path,
            media_type=media,
            filename=path.name,
            headers=headers,
            content_disposition_type="attachment" if ext == ".docx" else "inline",
        )

    embed_template = Template((WEB_DIR / "embed.html").read_text(encoding="utf-8"))
    embed_csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action "
        "'none'; object-src 'none'; frame-ancestors "
        + " ".join(["'self'", *settings.allowed_origins])
    )

    @app.get("/embed", response_class=HTMLResponse, include_in_schema=False)
    def embed_page() -> HTMLResponse:
        root = backend.root
        page = embed_template.safe_substitute(
            root=esc(root),
            examples=esc(json.dumps(EXAMPLE_QUESTIONS[:3])),
            max_chars=settings.max_question_chars,
        )
        return HTMLResponse(
            page, headers={"Content-Security-Policy": embed_csp, "Cache-Control": "no-store"}
        )

    from fastapi.staticfiles import StaticFiles

    app.mount("/web", StaticFiles(directory=STATIC_DIR), name="web")
    _add_docs(app, settings)
    if ui:
        _mount_ui(app, backend)
    return app


def _add_docs(app: FastAPI, settings: Settings) -> None:
    """Swagger UI at /docs, served from the swagger-ui-bundle package (works offline)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    root = settings.root_path.rstrip("/")
    try:
        import swagger_ui_bundle
        from fastapi.staticfiles import StaticFiles

        app.mount(
            "/docs-assets",
            StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
            name="docs-assets",
        )
        js, css = f"{root}/docs-assets/swagger-ui-bundle.js", f"{root}/docs-assets/swagger-ui.css"
    except ImportError:  # fall back to FastAPI's CDN copy
        js = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
        css = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="tradechat API",
            swagger_js_url=js,
            swagger_css_url=css,
            swagger_favicon_url=f"{root}/web/favicon.svg",
        )


# ==========================================================================================
# The Gradio chat UI
# ==========================================================================================


def _history(turns: list[dict]) -> list[Turn]:
    out: list[Turn] = []
    for t in turns[-HISTORY_SENT:]:
        if t.get("answer") is None:
            continue
        out.append(Turn(role="user", content=t["question"]))
        out.append(Turn(role="assistant", content=t["answer"]["answer"]))
    return out


def _messages(turns: list[dict]) -> list[dict]:
    msgs: list[dict] = []
    for i, t in enumerate(turns):
        msgs.append({"role": "user", "content": render_user(t["question"])})
        if t.get("answer") is not None:
            content = render_answer(Answer.model_validate(t["answer"]), i)
        elif t.get("error"):
            content = render_error(t["error"])
        else:
            content = render_pending(t.get("partial", ""))
        msgs.append({"role": "assistant", "content": content})
    return msgs


def _mount_ui(app: FastAPI, backend: Backend) -> None:
    """Build the Gradio chat UI and mount it at "/".

    All HTML it shows is rendered here, escaped (``esc``); so are toast messages, which
    Gradio renders as HTML.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    settings = backend.settings

    def status_outputs():
        snap = backend.status.snapshot()
        try:
            docs = backend.documents()
        except Exception:
            log.exception("listing documents failed")
            docs = []
        choices = [(d.title, d.id) for d in docs]
        return (
            render_status(snap, len(docs)),
            render_documents(docs),
            gr.update(choices=choices),
            gr.Timer(active=snap["state"] == "indexing"),
        )

    def respond(question: str, turns: list[dict], scope: list[str] | None):
        question = (question or "").strip()
        if not question:
            yield gr.skip(), turns, gr.skip()
            return
        try:
            question = backend.check_question(question)
        except ApiError as exc:
            raise gr.Error(esc(exc.message)) from None
        history = _history(turns)
        turns = [*turns, {"question": question, "answer": None, "partial": ""}]
        turn = turns[-1]
        yield _messages(turns), turns, ""
        filters = {"source": list(scope)} if scope else None
        try:
            events = backend.stream(question, history, filters)
            last = 0.0
            for event in events:
                if event.get("event") == "token":
                    turn["partial"] += str(event.get("data", ""))
                    now = time.monotonic()
                    if now - last > 0.05:  # at most ~20 repaints a second
                        last = now
                        yield _messages(turns), turns, gr.skip()
                elif event.get("event") == "answer":
                    answer = event["data"]
                    turn["answer"] = answer.model_dump(mode="json")
        except (TradechatError, ApiError) as exc:
            turn["error"] = str(exc)
        except Exception as exc:
            log.exception("answering in the UI failed")
            turn["error"] = f"internal error ({type(exc).__name__}); see the server log"
        if turn["answer"] is None and not turn.get("error"):
            turn["error"] = "the answering chain returned no answer"
        turn.pop("partial", None)
        yield _messages(turns), turns, gr.skip()

    def bridge(payload: str, turns: list[dict]):
        """Clicks in rendered HTML (citation markers, delete buttons) arrive here as JSON."""
        try:
            data = json.loads(payload or "{}")
        except ValueError:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if data.get("action") == "cite":
            try:
                turn = turns[int(data["turn"])]
                answer = Answer.model_validate(turn["answer"])
                c = next(c for c in answer.citations if c.n == int(data["n"]))
                ctx = backend.context(c.source, c.start, c.end, quote_text=c.quote)
                panel = render_source(c, ctx)
            except ApiError as exc:
                panel = f'<div class="tc-panel-empty"><p>{esc(exc.message)}</p></div>'
            except (KeyError, IndexError, ValueError, TypeError, StopIteration):
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return (panel, gr.Tabs(selected="source"), gr.skip(), gr.skip(), gr.skip(), gr.skip())
        if data.get("action") == "delete":
            source = str(data.get("source", ""))
            try:
                result = backend.delete_document(source)
                gr.Info(f"Removed {esc(source)} ({result.chunks_removed} passages)")
            except ApiError as exc:
                gr.Warning(esc(exc.message))
            status, docs, choices, timer = status_outputs()
            return gr.skip(), gr.skip(), status, docs, choices, timer
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()

    def upload(files: list[str] | None, progress=gr.Progress()):  # noqa: B008 (Gradio's way)
        lines = []
        for path in files or []:
            name = Path(path).name
            progress(0, desc=f"Indexing {name}")
            try:
                with open(path, "rb") as fh:
                    res = backend.save_upload(
                        name,
                        fh,
                        on_file=lambda d, t, s, n=name: progress((d, t), desc=f"Indexing {n}"),
                    )
                r = res.result
                verb = {"new": "added", "changed": "updated", "unchanged": "already indexed"}
                lines.append(
                    f'<li class="tc-up-ok">✓ <b>{esc(name)}</b> {verb.get(r.status, r.status)}'
                    f" · {res.document.chunks if res.document else 0} passages</li>"
                )
            except ApiError as exc:
                lines.append(f'<li class="tc-up-bad">✕ <b>{esc(name)}</b> {esc(exc.message)}</li>')
            except TradechatError as exc:
                lines.append(f'<li class="tc-up-bad">✕ <b>{esc(name)}</b> {esc(exc)}</li>')
        status, docs, choices, timer = status_outputs()
        report = f'<ul class="tc-upload-report">{"".join(lines)}</ul>' if lines else ""
        return report, None, status, docs, choices, timer

    def on_like(data: gr.LikeData, turns: list[dict], fid: int | None):
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn_no = int(index) // 2
        if not (0 <= turn_no < len(turns)) or turns[turn_no].get("answer") is None:
            return fid, gr.skip()
        rating = "up" if data.liked is True or data.liked == "Like" else "down"
        answer = turns[turn_no]["answer"]
        if data.liked in (None, False, "") and not isinstance(data.liked, str):
            rating = "down" if data.liked is False else rating
        fid = backend.feedback.add(
            rating=rating,
            question=turns[turn_no]["question"],
            answer=answer["answer"],
            citations=answer["citations"],
            settings=public_settings(settings),
            client="ui",
        )
        return fid, gr.update(visible=True)

    def send_comment(comment: str, fid: int | None):
        if fid is not None and comment.strip():
            backend.feedback.set_comment(fid, comment.strip()[:4000])
            gr.Info("Thanks, your feedback was saved.")
        return "", gr.update(visible=False)

    def clear():
        return [], [], SOURCE_EMPTY, None, gr.update(visible=False)

    def pick_example(data):
        return data.value["text"]

    # Gradio finds the event-data parameter by its annotation, which `from __future__
    # import annotations` turns into a string it cannot resolve here: set the real class.
    pick_example.__annotations__["data"] = gr.SelectData
    on_like.__annotations__["data"] = gr.LikeData

    root = esc(backend.root)
    header = (
        f'<div class="tc-brand"><img src="{root}/web/favicon.svg" alt="" class="tc-logo">'
        '<div><div class="tc-name">Tradechat</div><div class="tc-tagline">Answers from '
        "your trade documents, every claim cited</div></div></div>"
    )
    placeholder = (
        '<div class="tc-welcome"><h2>Ask about tariffs, USMCA and trade relations</h2>'
        "<p>Answers come only from the indexed documents. Every sentence carries a numbered "
        "citation: click it to read the passage in context.</p></div>"
    )

    with gr.Blocks(
        title="Tradechat", fill_height=True, delete_cache=(3600, 3600), analytics_enabled=False
    ) as demo:
        turns = gr.State([])
        feedback_id = gr.State(None)
        with gr.Row(elem_id="tc-header", equal_height=True):
            gr.HTML(header, elem_id="tc-brand-box", scale=4)
            new_chat = gr.Button(
                "New conversation",
                size="sm",
                variant="secondary",
                elem_id="tc-new",
                scale=0,
                min_width=150,
            )
            status = gr.HTML(
                render_status(backend.status.snapshot(), None),
                elem_id="tc-status-box",
                scale=0,
                min_width=190,
            )
        with gr.Row(elem_id="tc-main", equal_height=False):
            with gr.Column(scale=7, elem_id="tc-chat-col"):
                chatbot = gr.Chatbot(
                    elem_id="tc-chat",
                    show_label=False,
                    height="66vh",
                    min_height=420,
                    placeholder=placeholder,
                    layout="bubble",
                    buttons=[],
                    examples=[{"text": q} for q in EXAMPLE_QUESTIONS],
                    latex_delimiters=[],
                    feedback_options=("Like", "Dislike"),
                    autoscroll=True,
                    group_consecutive_messages=False,
                )
                with gr.Row(elem_id="tc-ask-row"):
                    question = gr.Textbox(
                        placeholder="Ask a question about the documents…",
                        show_label=False,
                        lines=1,
                        max_lines=6,
                        scale=8,
                        elem_id="tc-question",
                        submit_btn="Ask",
                        max_length=settings.max_question_chars,
                        autofocus=True,
                    )
                with gr.Row(visible=False, elem_id="tc-comment-row") as comment_row:
                    comment = gr.Textbox(
                        placeholder="Thanks! Anything to add? (optional)",
                        show_label=False,
                        scale=6,
                        container=False,
                        max_length=4000,
                        elem_id="tc-comment",
                    )
                    send = gr.Button("Send feedback", size="sm", scale=1, elem_id="tc-comment-send")
            with gr.Column(scale=5, elem_id="tc-side-col"):
                with gr.Tabs(selected="source", elem_id="tc-tabs") as tabs:
                    with gr.Tab("Source", id="source", elem_id="tc-tab-source"):
                        source_panel = gr.HTML(
                            SOURCE_EMPTY, elem_id="tc-source-panel", js_on_load=None
                        )
                    with gr.Tab("Documents", id="docs", elem_id="tc-tab-docs"):
                        files = gr.File(
                            label="Add documents",
                            file_count="multiple",
                            file_types=sorted(UPLOAD_TYPES),
                            elem_id="tc-upload",
                            height=120,
                        )
                        upload_report = gr.HTML("", elem_id="tc-upload-report", js_on_load=None)
                        scope = gr.Dropdown(
                            choices=[],
                            multiselect=True,
                            label="Answer only from (empty: all documents)",
                            elem_id="tc-scope",
                        )
                        doc_list = gr.HTML("", elem_id="tc-doc-list", js_on_load=None)
        gr.HTML(
            '<div class="tc-footer">Answers quote the indexed documents verbatim; check '
            f'the source before relying on one. · <a href="{root}/docs" target="_blank">API</a>'
            f' · <a href="{root}/embed" target="_blank">Embeddable chat</a></div>',
            elem_id="tc-footer-box",
        )
        bridge_box = gr.Textbox(visible="hidden", elem_id="tc-bridge")
        bridge_go = gr.Button(visible="hidden", elem_id="tc-bridge-go")
        timer = gr.Timer(1.0, active=False)

        private = {"api_visibility": "private"}
        status_targets = [status, doc_list, scope, timer]
        demo.load(status_outputs, None, status_targets, **private)
        timer.tick(status_outputs, None, status_targets, show_progress="hidden", **private)
        ask_args = dict(
            fn=respond,
            inputs=[question, turns, scope],
            outputs=[chatbot, turns, question],
            show_progress="hidden",
            **private,
        )
        question.submit(**ask_args)
        chatbot.example_select(pick_example, None, question, **private).then(**ask_args)
        bridge_go.click(
            bridge,
            [bridge_box, turns],
            [source_panel, tabs, status, doc_list, scope, timer],
            show_progress="hidden",
            **private,
        )
        files.upload(
            upload, [files], [upload_report, files, status, doc_list, scope, timer], **private
        )
        chatbot.like(on_like, [turns, feedback_id], [feedback_id, comment_row], **private)
        send.click(send_comment, [comment, feedback_id], [comment, comment_row], **private)
        comment.submit(send_comment, [comment, feedback_id], [comment, comment_row], **private)
        for clearing in (new_chat.click, chatbot.clear):
            clearing(
                clear, None, [chatbot, turns, source_panel, feedback_id, comment_row], **private
            )

    # Gradio runs one event at a time per handler unless told otherwise: let several
    # people chat at once (answering is CPU-bound; more would only queue in the threadpool).
    demo.queue(default_concurrency_limit=8)
    theme = gr.themes.Soft(
        primary_hue="blue",
        secondary_hue="slate",
        neutral_hue="slate",
        radius_size="md",
        font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )
    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        root_path=settings.root_path or None,
        footer_links=[],
        run_history=False,
        ssr_mode=False,
        theme=theme,
        show_error=True,
        css_paths=[STATIC_DIR / "app.css"],
        js=(STATIC_DIR / "ui.js").read_text(),
        max_file_size=int(settings.max_upload_mb * 1_000_000),
        mcp_server=False,
        favicon_path=str(STATIC_DIR / "favicon.png")
        if (STATIC_DIR / "favicon.png").exists()
        else None,
        enable_monitoring=False,
        pwa=False,
    )


# ==========================================================================================
# Running it
# ==========================================================================================


def start_background_ingest(app: FastAPI) -> threading.Thread:
    """Index the corpus folder in a thread while the server starts answering."""
    backend: Backend = app.state.backend
    thread = threading.Thread(target=backend.ingest_corpus, name="tradechat-ingest", daemon=True)
    thread.start()
    return thread


def serve(settings: Settings | None = None, ingest_corpus: bool = True) -> None:
    """Run the web app with uvicorn on ``settings.host:settings.port``.

    Args:
        ingest_corpus: index ``settings.corpus_dir`` incrementally in the background
            (the UI shows progress; questions are answered from what is indexed so far).
    """
    import uvicorn

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = settings or get_settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    app = create_app(settings)
    if ingest_corpus:
        start_background_ingest(app)
    url = f"http://{settings.host}:{settings.port}{settings.root_path.rstrip('/')}/"
    log.info("tradechat on %s (API docs: %sdocs, embed: %sembed)", url, url, url)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        root_path=settings.root_path,
        proxy_headers=True,
        timeout_graceful_shutdown=5,
        log_level="info",
    )


if __name__ == "__main__":
    import sys

    from tradechat.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
