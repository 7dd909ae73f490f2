"""The pipeline against an embedded Chroma in tmp_path, with the real bundled encoder."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from ingest import pipeline
from ingest.load import load
from ingest.models import ChunkMeta
from ingest.pipeline import ingest_paths, remove_document
from ingest.store import IndexStore, collection_name, open_store
from tradechat.errors import DocumentError


def run(paths, settings, encoder, **kwargs):
    return ingest_paths(
        [Path(p) for p in paths], settings=settings, encoder=encoder, progress=False, **kwargs
    )


def store_for(settings, encoder) -> IndexStore:
    return open_store(settings, encoder.label, encoder.max_tokens)


def snapshot(store: IndexStore) -> dict[str, tuple[str, dict]]:
    """{chunk id: (text, metadata)} of everything in the collection."""
    got = store.chunks.get(include=["documents", "metadatas"])
    return {
        i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    }


def assert_no_duplicates(store: IndexStore) -> None:
    got = store.chunks.get(include=["documents"])
    ids, texts = got["ids"], got["documents"]
    assert len(ids) == len(set(ids)), "duplicate chunk ids"
    dupes = [t[:60] for t, n in Counter(texts).items() if n > 1]
    assert not dupes, f"duplicate chunk texts: {dupes}"


def by_status(report) -> dict[str, dict[str, str | None]]:
    out: dict[str, dict[str, str | None]] = {}
    for f in report.files:
        out.setdefault(f.status, {})[f.source] = f.reason
    return out


# --- a clean first run ----------------------------------------------------------------------
def test_every_format_is_indexed_with_its_metadata(full_corpus, settings, encoder):
    report = run([full_corpus], settings, encoder)
    expected = {
        "agreements/accord_excerpt.txt",
        "agreements/dispute_settlement.pdf",
        "legislation/statute_excerpt.txt",
        "legislation/act_excerpt.txt",
        "notes/briefing.md",
        "articles/news_page.html",
        "customs_guide.docx",
    }
    assert by_status(report) == {"new": dict.fromkeys(expected)}
    assert report.totals["new"] == 7 and report.chunks_added == report.embeddings_computed > 7

    store = store_for(settings, encoder)
    assert report.collection == store.name == collection_name("all-MiniLM-L6-v2", 200, 256)
    assert store.count() == report.chunks_added
    assert_no_duplicates(store)
    metas = [ChunkMeta.from_chroma(m) for _, m in snapshot(store).values()]
    assert {m.source for m in metas} == expected
    kinds = {m.source: m.kind for m in metas}
    assert kinds["agreements/accord_excerpt.txt"] == "agreement"
    assert kinds["legislation/statute_excerpt.txt"] == "legislation"
    assert kinds["articles/news_page.html"] == "article"
    assert kinds["notes/briefing.md"] == "note"

    pdf = sorted((m for m in metas if m.source.endswith(".pdf")), key=lambda m: m.start)
    assert [(m.section_id, m.page) for m in pdf] == [
        ("Article 2001", 1),
        ("Article 2002", 2),
        ("Article 2003", 3),
    ]
    assert {m.section_id for m in metas if m.source.endswith("accord_excerpt.txt")} >= {
        "Article 101",
        "Article 102",
        "Article 401",
        "Annex 401",
        "Article 34.1",
        "Article 2205",
    }
    assert "§ 4611" in {m.section_id for m in metas}
    docx_paths = {m.heading_path for m in metas if m.source == "customs_guide.docx"}
    assert "Harbourline Customs Guide > Claiming preference > Keeping records" in docx_paths

    # The stored text is the document slice the metadata points at.
    records = store.file_records()
    for cid, (text, meta) in snapshot(store).items():
        doc_text = store.document_text(meta["source"])
        assert doc_text[meta["start"] : meta["end"]] == text
        assert meta["chunk_id"] == cid and meta["file_hash"] == records[meta["source"]].file_hash
    assert records["agreements/dispute_settlement.pdf"].pages[2]["page"] == 3


def test_a_single_file_is_its_own_root(data_dir, tmp_path, settings, encoder):
    path = tmp_path / "one" / "briefing.md"
    path.parent.mkdir()
    shutil.copy(data_dir / "briefing.md", path)
    report = run([path], settings, encoder)
    assert by_status(report) == {"new": {"briefing.md": None}}
    assert store_for(settings, encoder).file_records()["briefing.md"].root == str(path.parent)


# --- idempotent and incremental -------------------------------------------------------------
def test_unchanged_reingest_computes_no_embedding(text_corpus, settings, encoder):
    first = run([text_corpus], settings, encoder)
    before = snapshot(store_for(settings, encoder))
    second = run([text_corpus], settings, encoder)
    assert second.embeddings_computed == 0
    assert second.chunks_added == second.chunks_removed == 0
    assert second.totals["unchanged"] == first.totals["new"] == 5
    assert snapshot(store_for(settings, encoder)) == before


def test_a_changed_file_has_exactly_its_changed_chunks_replaced(text_corpus, settings, encoder):
    run([text_corpus], settings, encoder)
    store = store_for(settings, encoder)
    before = snapshot(store)
    target = "agreements/accord_excerpt.txt"
    path = text_corpus / target
    path.write_text(
        path.read_text().replace("remove duties on goods", "remove duties and quotas on goods")
    )

    report = run([text_corpus], settings, encoder)
    assert by_status(report)["changed"] == {target: None}
    assert report.totals["unchanged"] == 4
    after = snapshot(store)
    # Other files: the very same ids, texts and metadata.
    assert {i: v for i, v in before.items() if v[1]["source"] != target} == {
        i: v for i, v in after.items() if v[1]["source"] != target
    }
    # This file: only the edited article's passage was embedded again.
    added = set(after) - set(before)
    removed = set(before) - set(after)
    assert report.embeddings_computed == len(added) == report.chunks_added == 1
    assert report.chunks_removed == len(removed) == 1
    assert {after[i][1]["section_id"] for i in added} == {"Article 102"}
    assert "duties and quotas" in after[added.pop()][0]
    # Unchanged passages of the file kept their ids, with offsets refreshed.
    kept = [i for i in after if after[i][1]["source"] == target and i in before]
    assert kept and all(after[i][0] == before[i][0] for i in kept)
    text = store.document_text(target)
    assert all(text[after[i][1]["start"] : after[i][1]["end"]] == after[i][0] for i in kept)
    assert_no_duplicates(store)


def test_a_file_deleted_from_the_root_loses_its_chunks(text_corpus, settings, encoder):
    run([text_corpus], settings, encoder)
    store = store_for(settings, encoder)
    gone = "legislation/act_excerpt.txt"
    n_gone = len(store.chunk_hashes(gone))
    assert n_gone > 0
    (text_corpus / gone).unlink()

    report = run([text_corpus], settings, encoder)
    assert by_status(report)["removed"] == {gone: None}
    assert report.chunks_removed == n_gone and report.embeddings_computed == 0
    assert store.chunk_hashes(gone) == {}
    assert gone not in store.file_records()
    assert gone not in {m["source"] for _, m in snapshot(store).values()}


def test_a_file_outside_the_ingested_root_is_not_removed(
    text_corpus, tmp_path, data_dir, settings, encoder
):
    other = tmp_path / "other"
    other.mkdir()
    (other / "extra_briefing.md").write_text("# Extra\n\nA second note about quotas.\n")
    run([text_corpus, other], settings, encoder)
    report = run([text_corpus], settings, encoder)  # "other" is not part of this run
    assert "removed" not in by_status(report)
    assert "extra_briefing.md" in store_for(settings, encoder).file_records()


def test_remove_document(text_corpus, settings, encoder):
    run([text_corpus], settings, encoder)
    store = store_for(settings, encoder)
    n = len(store.chunk_hashes("notes/briefing.md"))
    assert remove_document("notes/briefing.md", settings, encoder, store) == n > 0
    assert store.chunk_hashes("notes/briefing.md") == {}
    with pytest.raises(DocumentError, match="no such document"):
        remove_document("notes/briefing.md", settings, encoder, store)


def test_a_file_that_breaks_keeps_its_last_good_chunks(text_corpus, settings, encoder):
    run([text_corpus], settings, encoder)
    store = store_for(settings, encoder)
    before = store.chunk_hashes("notes/briefing.md")
    (text_corpus / "notes" / "briefing.md").write_bytes(b"")
    report = run([text_corpus], settings, encoder)
    assert by_status(report)["failed"] == {"notes/briefing.md": "empty file (0 bytes)"}
    assert store.chunk_hashes("notes/briefing.md") == before


# --- no duplicates, ever --------------------------------------------------------------------
def test_a_copy_under_another_name_is_skipped(text_corpus, settings, encoder):
    shutil.copy(text_corpus / "notes" / "briefing.md", text_corpus / "notes" / "briefing (1).md")
    report = run([text_corpus], settings, encoder)
    assert by_status(report)["skipped"] == {
        "notes/briefing (1).md": "duplicate of notes/briefing.md (same bytes)"
    }
    store = store_for(settings, encoder)
    assert_no_duplicates(store)
    # The copy is indexed once the original is gone.
    (text_corpus / "notes" / "briefing.md").unlink()
    report = run([text_corpus], settings, encoder)
    statuses = by_status(report)
    assert statuses["removed"] == {"notes/briefing.md": None}
    assert statuses["new"] == {"notes/briefing (1).md": None}
    assert_no_duplicates(store)
    assert run([text_corpus], settings, encoder).totals["unchanged"] == 5


def test_the_same_folder_twice_or_nested_indexes_once(text_corpus, settings, encoder):
    report = run(
        [text_corpus, text_corpus, text_corpus / "notes" / "briefing.md"], settings, encoder
    )
    assert report.totals["new"] == 5 and len(report.files) == 5
    # A subfolder as its own root: same bytes under a shorter source name.
    report = run([text_corpus / "notes"], settings, encoder)
    assert by_status(report)["skipped"] == {
        "briefing.md": "duplicate of notes/briefing.md (same bytes)"
    }
    assert_no_duplicates(store_for(settings, encoder))


def test_two_roots_may_not_share_a_source(tmp_path, data_dir, settings, encoder):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, name in ((a, "accord_excerpt.txt"), (b, "act_excerpt.txt")):
        root.mkdir()
        shutil.copy(data_dir / name, root / "notes.txt")
    report = run([a, b], settings, encoder)
    assert by_status(report)["new"] == {"notes.txt": None}
    (reason,) = by_status(report)["failed"].values()
    assert reason.startswith(f"same relative path as {a / 'notes.txt'}")
    # In a later run, b's file does not silently replace a's either.
    report = run([b], settings, encoder)
    assert (
        "a different file with this name is already indexed from"
        in (by_status(report)["failed"]["notes.txt"])
    )
    store = store_for(settings, encoder)
    assert store.file_records()["notes.txt"].root == str(a)
    assert_no_duplicates(store)


def test_a_moved_folder_keeps_its_index_and_its_removals(text_corpus, tmp_path, settings, encoder):
    run([text_corpus], settings, encoder)
    moved = tmp_path / "moved"
    text_corpus.rename(moved)
    report = run([moved], settings, encoder)
    assert report.totals["unchanged"] == 5 and report.embeddings_computed == 0
    (moved / "notes" / "briefing.md").unlink()
    report = run([moved], settings, encoder)
    assert by_status(report)["removed"] == {"notes/briefing.md": None}


# --- a run killed midway --------------------------------------------------------------------
class Crash(RuntimeError):
    pass


def crash_on_second_put_file(monkeypatch):
    """Kill the run right after the first file's manifest record is written (the chunks of
    the files queued with it are already stored)."""
    real = IndexStore.put_files

    def put_files(self, files):
        real(self, files[:1])
        raise Crash("killed")

    monkeypatch.setattr(IndexStore, "put_files", put_files)


def test_a_run_killed_midway_is_completed_without_duplicates(
    text_corpus, tmp_path, settings, encoder, monkeypatch
):
    from tradechat.settings import Settings

    clean_settings = Settings(data_dir=tmp_path / "d2", index_dir=tmp_path / "clean")
    clean = run([text_corpus], clean_settings, encoder)
    clean_snapshot = snapshot(store_for(clean_settings, encoder))

    crash_on_second_put_file(monkeypatch)
    with pytest.raises(Crash):
        run([text_corpus], settings, encoder)
    store = store_for(settings, encoder)
    assert store.count() > 0  # some chunks were written before the crash
    assert len(store.file_records()) >= 2
    monkeypatch.undo()

    again = run([text_corpus], settings, encoder)
    assert snapshot(store) == clean_snapshot
    assert_no_duplicates(store)
    # Chunks written before the crash were not embedded again.
    assert again.embeddings_computed < clean.embeddings_computed
    assert {r.file_hash for r in store.file_records().values()} == {
        r.file_hash for r in store_for(clean_settings, encoder).file_records().values()
    }


def test_a_crashed_file_that_is_then_deleted_leaves_nothing(
    text_corpus, settings, encoder, monkeypatch
):
    crash_on_second_put_file(monkeypatch)
    with pytest.raises(Crash):
        run([text_corpus], settings, encoder)
    monkeypatch.undo()
    store = store_for(settings, encoder)
    pending = [s for s, r in store.file_records().items() if not r.file_hash]
    assert pending  # files whose chunks were written, manifest not yet complete
    for source in pending:
        assert store.chunk_hashes(source)
        # Meanwhile a reader can still quote the passage against the document's text.
        assert store.document_text(source) == load(text_corpus / source, source).text
        (text_corpus / source).unlink()
    report = run([text_corpus], settings, encoder)
    assert set(by_status(report)["removed"]) == set(pending)
    remaining = {m["source"] for _, m in snapshot(store).values()}
    assert remaining and not remaining & set(pending)


def test_a_changed_file_killed_midway_is_completed(text_corpus, settings, encoder, monkeypatch):
    run([text_corpus], settings, encoder)
    store = store_for(settings, encoder)
    for name in ("agreements/accord_excerpt.txt", "legislation/statute_excerpt.txt"):
        path = text_corpus / name
        path.write_text(path.read_text().replace("Accord", "Agreement"))
    crash_on_second_put_file(monkeypatch)
    with pytest.raises(Crash):
        run([text_corpus], settings, encoder)
    monkeypatch.undo()
    run([text_corpus], settings, encoder)
    assert not any(
        "Accord" in t
        for t, m in snapshot(store).values()
        if m["source"] in ("agreements/accord_excerpt.txt", "legislation/statute_excerpt.txt")
    )
    assert_no_duplicates(store)
    assert run([text_corpus], settings, encoder).embeddings_computed == 0


# --- index settings -------------------------------------------------------------------------
def test_a_changed_chunk_size_uses_another_collection(data_dir, tmp_path, settings, encoder):
    assert collection_name("all-MiniLM-L6-v2", 200, 256) != collection_name(
        "all-MiniLM-L6-v2", 128, 256
    )
    assert collection_name("all-MiniLM-L6-v2", 200, 256) != collection_name("other-model", 200, 256)
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(data_dir / "accord_excerpt.txt", folder)
    big = run([folder], settings, encoder)
    small_settings = settings.model_copy(update={"chunk_tokens": 64})
    small = run([folder], small_settings, encoder)
    assert small.collection != big.collection
    assert small.totals["new"] == 1 and small.embeddings_computed > big.embeddings_computed
    assert store_for(settings, encoder).count() == big.chunks_added  # untouched


# --- bad input ------------------------------------------------------------------------------
@pytest.fixture
def mixed_folder(text_corpus) -> Path:
    """text_corpus plus one of each kind of bad file."""
    bad = text_corpus / "bad"
    bad.mkdir()
    (bad / "broken.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\n1 0 obj <<>> nonsense")
    (bad / "empty.txt").write_bytes(b"")
    (bad / "photo.txt").write_bytes(bytes(range(256)) * 16)
    (bad / "legacy.txt").write_bytes("Zölle auf Käse – 5 €, siehe Anhang.\n".encode("cp1252"))
    (bad / "huge.txt").write_text("A line of a very long tariff schedule.\n" * 2000)  # 78 KB
    (bad / "table.xlsx").write_bytes(b"PK\x03\x04")
    return text_corpus


def test_bad_files_are_reported_and_the_rest_is_indexed(mixed_folder, settings, encoder):
    settings.max_file_mb = 0.05  # 50 KB: huge.txt is over it, the good files are not
    report = run([mixed_folder], settings, encoder)
    statuses = by_status(report)
    assert set(statuses["new"]) == {
        "agreements/accord_excerpt.txt",
        "legislation/statute_excerpt.txt",
        "legislation/act_excerpt.txt",
        "notes/briefing.md",
        "articles/news_page.html",
        "bad/legacy.txt",
    }
    assert statuses["new"]["bad/legacy.txt"] == "not valid UTF-8; decoded as cp1252"
    failed = statuses["failed"]
    assert set(failed) == {"bad/broken.pdf", "bad/empty.txt", "bad/photo.txt", "bad/huge.txt"}
    assert "PDF" in failed["bad/broken.pdf"]
    assert failed["bad/empty.txt"] == "empty file (0 bytes)"
    assert failed["bad/photo.txt"].startswith("binary data, not text")
    assert failed["bad/huge.txt"] == (
        "file is 78.0 KB, over the 50.0 KB limit (raise TRADECHAT_MAX_FILE_MB to index it)"
    )
    assert statuses["skipped"] == {"bad/table.xlsx": "unsupported file type '.xlsx'"}

    store = store_for(settings, encoder)
    legacy = [t for t, m in snapshot(store).values() if m["source"] == "bad/legacy.txt"]
    assert legacy == ["Zölle auf Käse – 5 €, siehe Anhang."]
    assert_no_duplicates(store)
    # The failures are retried (and reported) on the next run; nothing else is redone.
    again = run([mixed_folder], settings, encoder)
    assert set(by_status(again)["failed"]) == set(failed)
    assert again.embeddings_computed == 0


def test_an_unreadable_file_is_reported(mixed_folder, settings, encoder, monkeypatch):
    secret = mixed_folder / "notes" / "secret.md"
    secret.write_text("# Secret\n\nNobody may read this.\n")
    if os.geteuid() != 0:
        secret.chmod(0)
    else:  # root reads anything: make reading this one file fail as a permission error would
        real = pipeline.file_sha256

        def file_sha256(path: Path) -> str:
            if path.name == "secret.md":
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(pipeline, "file_sha256", file_sha256)
    try:
        report = run([mixed_folder], settings, encoder)
    finally:
        secret.chmod(0o644)
    assert by_status(report)["failed"]["notes/secret.md"] == "cannot read file (Permission denied)"
    assert "notes/briefing.md" in by_status(report)["new"]


def test_a_broken_link_and_a_fifo_are_reported_without_hanging(text_corpus, settings, encoder):
    (text_corpus / "notes" / "gone.md").symlink_to(text_corpus / "notes" / "missing.md")
    os.mkfifo(text_corpus / "notes" / "pipe.txt")
    report = run([text_corpus], settings, encoder)
    statuses = by_status(report)
    assert statuses["failed"]["notes/gone.md"].startswith("broken link")
    assert statuses["skipped"]["notes/pipe.txt"] == "not a regular file"
    assert len(statuses["new"]) == 5


def test_a_missing_path_is_reported(tmp_path, settings, encoder):
    report = run([tmp_path / "nowhere"], settings, encoder)
    assert by_status(report) == {"failed": {str(tmp_path / "nowhere"): "no such file or folder"}}


def test_progress_callback_sees_every_file(text_corpus, settings, encoder):
    seen = []
    run(
        [text_corpus],
        settings,
        encoder,
        on_file=lambda done, total, src: seen.append((done, total, src)),
    )
    assert [d for d, _, _ in seen] == [1, 2, 3, 4, 5] and {t for _, t, _ in seen} == {5}


# --- a folder's README and licence ------------------------------------------------------------
def test_a_folders_readme_is_skipped_but_a_named_one_is_indexed(tmp_path, settings, encoder):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("# About this folder\n\nThese notes describe tariffs.\n")
    (folder / "LICENSE").write_text("Permission is granted to copy these notes.\n")
    (folder / "tariffs.md").write_text("# Tariffs\n\nA duty of 25 percent applies to steel.\n")
    report = run([folder], settings, encoder)
    statuses = by_status(report)
    assert set(statuses["new"]) == {"tariffs.md"}
    assert set(statuses["skipped"]) == {"README.md", "LICENSE"}
    assert "README" in statuses["skipped"]["README.md"]
    sources = {m["source"] for _, m in snapshot(store_for(settings, encoder)).values()}
    assert sources == {"tariffs.md"}

    named = run([folder / "README.md"], settings, encoder)
    assert set(by_status(named)["new"]) == {"README.md"}


def test_a_readme_indexed_before_the_rule_is_removed_from_its_folder(tmp_path, settings, encoder):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("# About this folder\n\nThese notes describe tariffs.\n")
    (folder / "tariffs.md").write_text("# Tariffs\n\nA duty of 25 percent applies to steel.\n")
    kept = settings.model_copy(update={"skip_folder_notes": False})
    assert set(by_status(run([folder], kept, encoder))["new"]) == {"README.md", "tariffs.md"}

    again = by_status(run([folder], settings, encoder))
    assert set(again["removed"]) == {"README.md"}
    sources = {m["source"] for _, m in snapshot(store_for(settings, encoder)).values()}
    assert sources == {"tariffs.md"}
