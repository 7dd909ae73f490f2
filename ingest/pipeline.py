"""The ingestion pipeline, top to bottom: walk -> load -> split -> embed -> store.

Idempotent and incremental: a file whose bytes are unchanged is skipped before it is even
loaded; a changed file has exactly its chunks replaced (passages whose text did not change
keep their ids and embeddings); a file gone from an ingested folder has its chunks removed.

No duplicates: a file with the same bytes as one already indexed (a copy, a re-upload under
another name) is skipped with a reason, and two files that would get the same source (the
same relative path under two ingested folders) are never allowed to overwrite each other.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ingest.embed import Encoder, get_encoder
from ingest.load import load, size_limit_reason, unsupported_reason
from ingest.models import Chunk, FileResult, IngestReport
from ingest.split import split_document
from ingest.store import FileRecord, IndexStore, open_store
from tradechat.errors import DocumentError, TradechatError
from tradechat.settings import Settings, get_settings

ProgressFn = Callable[[int, int, str], None]

# One writer at a time per process (the app ingests uploads while serving).
_WRITE_LOCK = threading.Lock()
# Texts gathered from several small files before one encoder call: fewer, fuller batches.
_FLUSH_TEXTS = 512


@dataclass
class _Pending:
    record: FileRecord
    text: str
    result: FileResult
    chunks: list[Chunk]
    stale_ids: list[str]
    to_embed: list[Chunk]


@dataclass
class _Work:
    """One file of this run, after the cheap checks (type, size, hash)."""

    base: Path
    file: Path
    source: str
    file_hash: str | None = None
    result: FileResult | None = None  # set when the file is settled before loading


def iter_files(root: Path) -> Iterable[Path]:
    """Every file under ``root`` (or ``root`` itself), hidden files and folders excluded."""
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


# Files that describe a folder of documents rather than being one of them.
_FOLDER_NOTES = frozenset(
    "readme licence license copying changelog changes contributing notice authors".split()
)


def is_folder_note(name: str) -> bool:
    """README.md, LICENSE, CHANGELOG.txt ...: a folder's housekeeping, not a document.

    >>> [is_folder_note(n) for n in ("README.md", "license", "readme_notes.md", "nafta.txt")]
    [True, True, False, False]
    """
    return Path(name).stem.lower() in _FOLDER_NOTES


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress_bar(total: int, enabled: bool | None):
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="file", desc="Indexing", file=sys.stderr, leave=False)


def ingest_paths(
    paths: list[Path],
    settings: Settings | None = None,
    encoder: Encoder | None = None,
    store: IndexStore | None = None,
    progress: bool | None = None,
    on_file: ProgressFn | None = None,
) -> IngestReport:
    """Index ``paths`` (folders or files) incrementally and return what happened.

    Args:
        paths: folders (each an "ingested root": sources are relative to it, and files
            that disappeared from it are removed from the index) or single files.
        progress: show a progress bar on stderr (default: when stderr is a terminal).
        on_file: called as ``on_file(done, total, source)`` after each file (for the UI).

    Example::

        report = ingest_paths([Path("docs_corpus")])
        print(report.totals, report.chunks_added)
    """
    settings = settings or get_settings()
    encoder = encoder or get_encoder(settings.embedding_model, settings.embedding_batch_size)
    store = store or open_store(settings, encoder.label, encoder.max_tokens)
    started = time.perf_counter()
    report = IngestReport(
        index=settings.chroma_url or str(settings.resolved_index_dir), collection=store.name
    )
    max_bytes = int(settings.max_file_mb * 1_000_000)

    with _WRITE_LOCK:
        manifest = store.file_records()
        work = _walk(paths, manifest, store, report, settings.skip_folder_notes)
        for item in work:
            _check(item, manifest, max_bytes)
        owners = _content_owners(work, manifest)

        bar = _progress_bar(len(work), progress)
        pending: list[_Pending] = []
        for done, item in enumerate(work, start=1):
            result = item.result or _prepare(
                item, manifest, owners, store, encoder, settings, max_bytes, pending
            )
            if result is not None:
                report.files.append(result)
                report.chunks_removed += result.chunks_removed if result.status == "skipped" else 0
            if sum(len(p.to_embed) for p in pending) >= _FLUSH_TEXTS:
                _flush(pending, store, encoder, report)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(item.source[-40:])
            if on_file is not None:
                on_file(done, len(work), item.source)
        _flush(pending, store, encoder, report)
        if bar is not None:
            bar.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _walk(
    paths: list[Path],
    manifest: dict[str, FileRecord],
    store: IndexStore,
    report: IngestReport,
    skip_notes: bool = True,
) -> list[_Work]:
    """The files of this run, each under one source name; removes files gone from a root
    (and, with ``skip_notes``, a folder's README or LICENSE: see ``is_folder_note``)."""
    work: list[_Work] = []
    claimed: dict[str, Path] = {}  # source -> file, so that no two files share a source
    files: set[Path] = set()  # a file reached twice (a folder, and a file inside it) once
    for raw in paths:
        root = Path(raw).expanduser().resolve()
        if not root.exists():
            report.files.append(
                FileResult(source=str(raw), status="failed", reason="no such file or folder")
            )
            continue
        base = root.parent if root.is_file() else root
        seen: set[str] = set()
        for file in iter_files(root):
            source = file.relative_to(base).as_posix()
            if skip_notes and root.is_dir() and is_folder_note(file.name):
                report.files.append(
                    FileResult(
                        source=source,
                        status="skipped",
                        reason="a folder's README or licence describes the collection, not a "
                        "document; name the file itself to index it "
                        "(or set TRADECHAT_SKIP_FOLDER_NOTES=false)",
                    )
                )
                continue  # not "seen": an earlier run's copy is removed below
            seen.add(source)
            other = claimed.get(source)
            if file in files:
                continue
            if other is not None:
                report.files.append(
                    FileResult(
                        source=source,
                        status="failed",
                        reason=f"same relative path as {other}, ingested in this run; ingest the "
                        "two folders into separate indexes, or ingest their common parent",
                    )
                )
                continue
            claimed[source] = file
            files.add(file)
            work.append(_Work(base, file, source))
        if root.is_dir():  # files gone from this folder since the last run
            for source, rec in list(manifest.items()):
                if rec.root == str(base) and source not in seen:
                    removed = store.delete_file(source)
                    del manifest[source]
                    report.files.append(
                        FileResult(source=source, status="removed", chunks_removed=removed)
                    )
                    report.chunks_removed += removed
    return work


def _check(item: _Work, manifest: dict[str, FileRecord], max_bytes: int) -> None:
    """Cheap checks before any loading: type, regular file, size, clashes; then the hash."""
    file, source = item.file, item.source
    reason = unsupported_reason(file)
    if reason is not None:
        item.result = FileResult(source=source, status="skipped", reason=reason)
        return
    try:
        st = file.stat()  # follows links: a dangling link fails here
    except OSError as exc:
        what = "broken link" if file.is_symlink() else "cannot read file"
        item.result = FileResult(
            source=source, status="failed", reason=f"{what} ({exc.strerror or exc})"
        )
        return
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        item.result = FileResult(source=source, status="skipped", reason="not a regular file")
        return
    if st.st_size > max_bytes:
        item.result = FileResult(
            source=source, status="failed", reason=size_limit_reason(st.st_size, max_bytes)
        )
        return
    if st.st_size == 0:
        item.result = FileResult(source=source, status="failed", reason="empty file (0 bytes)")
        return
    old = manifest.get(source)
    if (
        old is not None
        and old.root
        and old.root != str(item.base)
        and (Path(old.root) / source).is_file()
    ):
        item.result = FileResult(
            source=source,
            status="failed",
            reason=f"a different file with this name is already indexed from {old.root}; "
            "rename one of them, or use separate indexes",
        )
        return
    try:
        item.file_hash = file_sha256(file)
    except OSError as exc:
        item.result = FileResult(
            source=source, status="failed", reason=f"cannot read file ({exc.strerror or exc})"
        )


def _content_owners(work: list[_Work], manifest: dict[str, FileRecord]) -> dict[str, str]:
    """{file hash: the one source indexed with those bytes}. A file already indexed with
    them keeps them (unchanged files of this run first, then indexed files this run does
    not touch); among new copies, the shortest name wins ("a.pdf" over "a (1).pdf")."""
    owners: dict[str, str] = {}
    in_run = {w.source for w in work}
    for w in work:
        old = manifest.get(w.source)
        if w.file_hash and old is not None and old.file_hash == w.file_hash:
            owners.setdefault(w.file_hash, w.source)
    for source, rec in manifest.items():
        if source not in in_run and rec.file_hash:
            owners.setdefault(rec.file_hash, source)
    fresh = sorted(
        (w for w in work if w.file_hash and w.file_hash not in owners),
        key=lambda w: (len(w.source), w.source),
    )
    for w in fresh:
        owners.setdefault(w.file_hash, w.source)
    return owners


def _prepare(
    item: _Work,
    manifest: dict[str, FileRecord],
    owners: dict[str, str],
    store: IndexStore,
    encoder: Encoder,
    settings: Settings,
    max_bytes: int,
    pending: list[_Pending],
) -> FileResult | None:
    """Decide what to do with one checked file; queue its chunks, or return its result."""
    file, source, base, file_hash = item.file, item.source, item.base, item.file_hash
    assert file_hash is not None
    old = manifest.get(source)
    owner = owners.get(file_hash)
    if owner is not None and owner != source:
        removed = store.delete_file(source) if old is not None else 0
        return FileResult(
            source=source,
            status="skipped",
            chunks_removed=removed,
            reason=f"duplicate of {owner} (same bytes)",
        )
    if old is not None and old.file_hash == file_hash:
        if old.root != str(base):  # the folder was moved: removals follow the new place
            store.set_root(source, str(base))
        return FileResult(source=source, status="unchanged")
    try:
        doc = load(file, source, max_bytes=max_bytes)
        chunks = split_document(
            doc, encoder.count_tokens, settings.chunk_tokens, encoder.max_tokens, file_hash
        )
    except DocumentError as exc:
        # A file that was indexed before and is now broken keeps its old chunks: losing
        # good data because of a bad save would be worse than serving the last good version.
        return FileResult(source=source, status="failed", reason=str(exc).split(": ", 1)[-1])
    except TradechatError:
        raise
    except Exception as exc:  # an unexpected parser crash must not stop the other files
        return FileResult(
            source=source,
            status="failed",
            reason=f"could not be processed ({type(exc).__name__}: {exc})",
        )
    if not chunks:
        return FileResult(source=source, status="failed", reason="no text to index")
    existing = store.chunk_hashes(source)
    new_ids = {c.meta.chunk_id for c in chunks}
    to_embed = [c for c in chunks if c.meta.chunk_id not in existing]
    record = FileRecord(
        source=source,
        file_hash=file_hash,
        root=str(base),
        title=doc.title,
        kind=doc.kind,
        n_chunks=len(chunks),
        pages=[p.model_dump() for p in doc.pages],
        encoding_note=doc.encoding_note,
    )
    # A pending record (empty hash) is what a run killed midway left: the file is still new.
    status = "new" if old is None or not old.file_hash else "changed"
    result = FileResult(source=source, status=status, reason=doc.encoding_note)
    pending.append(
        _Pending(
            record, doc.text, result, chunks, [i for i in existing if i not in new_ids], to_embed
        )
    )
    return result


def _flush(
    pending: list[_Pending], store: IndexStore, encoder: Encoder, report: IngestReport
) -> None:
    """Embed the queued chunks in one go, then write, each kind of write in as few store calls
    as the batch size allows (every call commits to disk): pending records for new files,
    new chunks, refreshed metadata, stale chunks deleted, and the complete manifest records
    last, so that a run killed anywhere in between is completed by the next one."""
    if not pending:
        return
    new = [c for p in pending for c in p.to_embed]
    vectors = encoder.embed([c.embed_text for c in new])
    report.embeddings_computed += len(new)
    store.put_pending([(p.record, p.text) for p in pending if p.result.status == "new"])
    store.add_chunks(
        [c.meta.chunk_id for c in new], [c.text for c in new], [c.meta for c in new], vectors
    )
    embedded = {c.meta.chunk_id for c in new}
    kept = [c for p in pending for c in p.chunks if c.meta.chunk_id not in embedded]
    if kept:  # same text, maybe new offsets or page: refresh metadata only
        store.update_metas([c.meta.chunk_id for c in kept], [c.meta for c in kept])
    store.delete_chunks([i for p in pending for i in p.stale_ids])
    store.put_files([(p.record, p.text) for p in pending])
    for item in pending:
        item.result.chunks_added = len(item.to_embed)
        item.result.chunks_removed = len(item.stale_ids)
        report.chunks_added += len(item.to_embed)
        report.chunks_removed += len(item.stale_ids)
    pending.clear()


def remove_document(
    source: str,
    settings: Settings | None = None,
    encoder: Encoder | None = None,
    store: IndexStore | None = None,
) -> int:
    """Remove one document's chunks and manifest record; returns chunks removed."""
    settings = settings or get_settings()
    encoder = encoder or get_encoder(settings.embedding_model, settings.embedding_batch_size)
    store = store or open_store(settings, encoder.label, encoder.max_tokens)
    with _WRITE_LOCK:
        if source not in store.file_records():
            raise DocumentError(f"{source}: no such document in the index")
        return store.delete_file(source)
