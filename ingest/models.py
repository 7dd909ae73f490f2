"""The data that crosses module boundaries during ingestion, and the chunk metadata schema.

``ChunkMeta`` is the contract between ``ingest`` (which writes it) and ``rag`` (which reads it):
Chroma stores it flattened with ``to_chroma`` and gives it back through ``from_chroma``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

DocKind = Literal["agreement", "legislation", "article", "note", "document"]


class PageSpan(BaseModel):
    """Where one PDF page lies in the document text."""

    page: int
    start: int
    end: int


class LoadedDocument(BaseModel):
    """A document's clean text, as a loader returns it."""

    source: str = Field(description="Path relative to the ingested root, with '/' separators.")
    title: str
    kind: DocKind
    text: str = Field(description="Clean text; every chunk span indexes into it.")
    pages: list[PageSpan] = Field(default_factory=list, description="PDF only.")
    encoding_note: str | None = Field(None, description="Set when text was not valid UTF-8.")

    def page_at(self, offset: int) -> int | None:
        """The 1-based page that holds character ``offset``, or None for unpaged text."""
        for span in self.pages:
            if span.start <= offset < span.end:
                return span.page
        return self.pages[-1].page if self.pages else None


class ChunkMeta(BaseModel):
    """Typed metadata of one chunk. ``None`` means "the document has no such structure"."""

    chunk_id: str
    source: str
    title: str
    kind: DocKind
    chapter: str | None = None
    section_id: str | None = Field(None, description="'Article 2205', '§ 4611', '1', ...")
    section_heading: str | None = Field(None, description="'Withdrawal', 'Purpose', ...")
    heading_path: str = Field(description="'NAFTA ... > Chapter Twenty Two > Article 2205: ...'")
    page: int | None = None
    start: int = Field(description="Start offset of the chunk text in the document text.")
    end: int = Field(description="End offset (exclusive).")
    chunk_index: int
    content_hash: str = Field(description="sha256 of the embedded text (heading path + body).")
    file_hash: str = Field(description="sha256 of the file's bytes when it was ingested.")

    def to_chroma(self) -> dict[str, str | int]:
        """Flatten for Chroma, which stores no None: absent values become '' or -1."""
        out: dict[str, str | int] = {}
        for key, value in self.model_dump().items():
            if value is None:
                value = -1 if key == "page" else ""
            out[key] = value
        return out

    @classmethod
    def from_chroma(cls, meta: dict) -> ChunkMeta:
        data = dict(meta)
        for key in ("chapter", "section_id", "section_heading"):
            if data.get(key) == "":
                data[key] = None
        if data.get("page") in (-1, None):
            data["page"] = None
        return cls.model_validate(data)

    @property
    def section_label(self) -> str | None:
        """'Article 2205: Withdrawal' or '§ 4611. Participation ...', for citations."""
        if not self.section_id:
            return self.section_heading
        if self.section_heading:
            sep = ". " if self.section_id.startswith("§") else ": "
            return f"{self.section_id}{sep}{self.section_heading}"
        return self.section_id


class Chunk(BaseModel):
    """A passage ready to embed: ``text`` is the exact document slice, ``embed_text`` adds the
    heading path so that the embedding knows where the passage sits."""

    text: str
    embed_text: str
    meta: ChunkMeta


class FileResult(BaseModel):
    """What happened to one file during an ingest run."""

    source: str
    status: Literal["new", "changed", "unchanged", "removed", "failed", "skipped"]
    chunks_added: int = 0
    chunks_removed: int = 0
    reason: str | None = None


class IngestReport(BaseModel):
    """The summary of one ingest run (printed, or as JSON with --json)."""

    index: str
    collection: str
    files: list[FileResult] = Field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    embeddings_computed: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def totals(self) -> dict[str, int]:
        names = ("new", "changed", "unchanged", "removed", "failed", "skipped")
        return {name: self.count(name) for name in names}
