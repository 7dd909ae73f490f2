"""The ingestion pipeline, top to bottom: walk -> load -> split -> embed -> store.

Idempotent and incremental: a file whose bytes are unchanged is skipped before it is even
loaded; a changed file has exactly its chunks replaced (passages whose text did not change
keep their ids and embeddings); a file gone from an ingested folder has its chunks removed.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ingest.embed import Encoder, get_encoder
from ingest.load import load, unsupported_reason
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
    """
    settings = settings or get_settings()
    encoder = encoder or get_encoder(settings.embedding_model, settings.embedding_batch_size)
    store = store or open_store(settings, encoder.label, encoder.max_tokens)
    started = time.perf_counter()
    report = IngestReport(index=settings.chroma_url or str(settings.resolved_index_dir),
                          collection=store.name)
    max_bytes = int(settings.max_file_mb * 1_000_000)

    with _WRITE_LOCK:
        manifest = store.file_records()
        work: list[tuple[Path, Path, str]] = []  # (root, file, source)
        for raw in paths:
            root = Path(raw).expanduser().resolve()
            if not root.exists():
                report.files.append(FileResult(source=str(raw), status="failed",
                                               reason="no such file or folder"))
                continue
            base = root.parent if root.is_file() else root
            seen: set[str] = set()
            for file in iter_files(root):
                source = file.relative_to(base).as_posix()
                seen.add(source)
                work.append((base, file, source))
            if root.is_dir():  # files gone from this folder since the last run
                for source, rec in manifest.items():
                    if rec.root == str(base) and source not in seen:
                        removed = store.delete_file(source)
                        report.files.append(FileResult(source=source, status="removed",
                                                       chunks_removed=removed))
                        report.chunks_removed += removed

        bar = _progress_bar(len(work), progress)
        pending: list[_Pending] = []
        for done, (base, file, source) in enumerate(work, start=1):
            result = _prepare(file, source, base, manifest, store, encoder, settings, max_bytes,
                              pending)
            if result is not None:
                report.files.append(result)
            if sum(len(p.to_embed) for p in pending) >= _FLUSH_TEXTS:
                _flush(pending, store, encoder, report)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(source[-40:])
            if on_file is not None:
                on_file(done, len(work), source)
        _flush(pending, store, encoder, report)
        if bar is not None:
            bar.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _prepare(file: Path, source: str, base: Path, manifest: dict[str, FileRecord],
             store: IndexStore, encoder: Encoder, settings: Settings, max_bytes: int,
             pending: list[_Pending]) -> FileResult | None:
    """Decide what to do with one file; queue its chunks, or return its final result."""
    reason = unsupported_reason(file)
    if reason is not None:
        return FileResult(source=source, status="skipped", reason=reason)
    try:
        file_hash = file_sha256(file)
    except OSError as exc:
        return FileResult(source=source, status="failed",
                          reason=f"cannot read file ({exc.strerror or exc})")
    old = manifest.get(source)
    if old is not None and old.file_hash == file_hash:
        return FileResult(source=source, status="unchanged")
    try:
        doc = load(file, source, max_bytes=max_bytes)
        chunks = split_document(doc, encoder.count_tokens, settings.chunk_tokens,
                                encoder.max_tokens, file_hash)
    except DocumentError as exc:
        # A file that was indexed before and is now broken keeps its old chunks: losing
        # good data because of a bad save would be worse than serving the last good version.
        return FileResult(source=source, status="failed", reason=str(exc).split(": ", 1)[-1])
    except TradechatError:
        raise
    except Exception as exc:  # an unexpected parser crash must not stop the other files
        return FileResult(source=source, status="failed",
                          reason=f"could not be processed ({type(exc).__name__}: {exc})")
    if not chunks:
        return FileResult(source=source, status="failed", reason="no text to index")
    existing = store.chunk_hashes(source)
    new_ids = {c.meta.chunk_id for c in chunks}
    to_embed = [c for c in chunks if c.meta.chunk_id not in existing]
    record = FileRecord(source=source, file_hash=file_hash, root=str(base), title=doc.title,
                        kind=doc.kind, n_chunks=len(chunks),
                        pages=[p.model_dump() for p in doc.pages],
                        encoding_note=doc.encoding_note)
    status = "new" if old is None else "changed"
    result = FileResult(source=source, status=status, reason=doc.encoding_note)
    pending.append(_Pending(record, doc.text, result, chunks,
                            [i for i in existing if i not in new_ids], to_embed))
    return result


def _flush(pending: list[_Pending], store: IndexStore, encoder: Encoder,
           report: IngestReport) -> None:
    """Embed the queued chunks in one go, then write each file: chunks first, manifest last."""
    if not pending:
        return
    texts = [c.embed_text for p in pending for c in p.to_embed]
    vectors = encoder.embed(texts)
    report.embeddings_computed += len(texts)
    pos = 0
    for item in pending:
        n = len(item.to_embed)
        vecs, pos = vectors[pos:pos + n], pos + n
        if n:
            store.add_chunks([c.meta.chunk_id for c in item.to_embed],
                             [c.text for c in item.to_embed],
                             [c.meta for c in item.to_embed], vecs)
        embedded = {c.meta.chunk_id for c in item.to_embed}
        kept = [c for c in item.chunks if c.meta.chunk_id not in embedded]
        if kept:  # same text, maybe new offsets or page: refresh metadata only
            store.update_metas([c.meta.chunk_id for c in kept], [c.meta for c in kept])
        store.delete_chunks(item.stale_ids)
        store.put_file(item.record, item.text)
        item.result.chunks_added = n
        item.result.chunks_removed = len(item.stale_ids)
        report.chunks_added += n
        report.chunks_removed += len(item.stale_ids)
    pending.clear()


def remove_document(source: str, settings: Settings | None = None,
                    encoder: Encoder | None = None, store: IndexStore | None = None) -> int:
    """Remove one document's chunks and manifest record; returns chunks removed."""
    settings = settings or get_settings()
    encoder = encoder or get_encoder(settings.embedding_model, settings.embedding_batch_size)
    store = store or open_store(settings, encoder.label, encoder.max_tokens)
    with _WRITE_LOCK:
        if source not in store.file_records():
            raise DocumentError(f"{source}: no such document in the index")
        return store.delete_file(source)
