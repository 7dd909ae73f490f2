"""Validate an evaluation question set (JSONL) against a document corpus.

Usage::

    python -m evals.check_questions QUESTIONS.jsonl --corpus DIR

Each line of QUESTIONS.jsonl is one JSON object with the fields

* ``id`` (str, unique), ``question`` (str), ``answerable`` (bool),
* ``type``: one of ``factoid``, ``why``, ``paraphrase``, ``keyword``,
  ``multi-doc``, ``follow-up``, ``unanswerable``,
* ``sources``: list of corpus paths (relative to DIR; a bare file name is
  accepted when it is unique in the corpus),
* ``facts``: list of groups, each a list of alternative strings; every
  alternative must literally occur (case-insensitive, whitespace-collapsed)
  in the extracted text of at least one listed source,
* optional ``pages``: ``{source: [1-based page numbers]}`` for paged sources
  (PDF), optional ``history``: list of ``{"role", "content"}`` prior turns,
  optional ``notes`` (free text).

``type == "unanswerable"`` if and only if ``answerable`` is false, and then
``sources`` and ``facts`` must both be empty.

The checker prints one line per problem and a summary line, and exits with
status 1 if there is any problem, 0 otherwise.  It deliberately imports
nothing from the rest of the project, so it can run standalone; it needs only
the standard library plus ``pypdf`` (for PDFs) and ``beautifulsoup4`` (for
HTML); ``python-docx`` is used for .docx sources if it is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ALLOWED_TYPES = (
    "factoid",
    "why",
    "paraphrase",
    "keyword",
    "multi-doc",
    "follow-up",
    "unanswerable",
)
REQUIRED_FIELDS = ("id", "question", "answerable", "type", "sources", "facts")
OPTIONAL_FIELDS = ("pages", "history", "notes")
HISTORY_ROLES = ("user", "assistant")
TEXT_EXTENSIONS = (".txt", ".md", ".markdown", ".tsv", ".csv", ".json", ".jsonl")
HTML_EXTENSIONS = (".html", ".htm", ".xhtml")

_WS_RE = re.compile(r"\s+")


class ExtractionError(Exception):
    """Raised when the text of a source document cannot be extracted."""


# --------------------------------------------------------------------------
# Text extraction
# --------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Return ``text`` lower-cased with every run of whitespace collapsed to
    one space and leading/trailing whitespace removed.

    This is the form in which facts and document texts are compared.
    """
    return _WS_RE.sub(" ", text).strip().lower()


def extract_html_text(html: str) -> str:
    """Return the visible text of an HTML document.

    ``script``, ``style``, ``noscript`` and ``template`` elements, comments
    and other non-text nodes are dropped; text nodes are joined with a space
    so that block elements do not run together.  Uses the standard-library
    ``html.parser`` backend of BeautifulSoup (no lxml needed).
    """
    from bs4 import BeautifulSoup
    from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    for node in soup.find_all(string=True):
        if isinstance(node, (Comment, Declaration, Doctype, ProcessingInstruction)):
            node.extract()
    return soup.get_text(" ")


def extract_pdf_pages(path: str) -> list[str]:
    """Return the pypdf-extracted text of each page of the PDF at ``path``
    (index 0 is page 1)."""
    try:
        from pypdf import PdfReader
    except ImportError as exc:  # pragma: no cover - environment dependent
        raise ExtractionError("pypdf is not installed") from exc
    try:
        reader = PdfReader(path)
        return [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # pypdf raises many exception types
        raise ExtractionError(f"cannot read PDF: {exc}") from exc


def extract_docx_text(path: str) -> str:
    """Return the paragraph and table text of a .docx file (needs
    ``python-docx``; raises ExtractionError when it is not installed)."""
    try:
        import docx  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ExtractionError("python-docx is not installed, cannot read .docx") from exc
    try:
        document = docx.Document(path)
    except Exception as exc:
        raise ExtractionError(f"cannot read .docx: {exc}") from exc
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                parts.append(cell.text)
    return "\n".join(parts)


def extract_text(path: str) -> str:
    """Return the text of the document at ``path``, chosen by extension:
    .txt/.md (and other plain-text formats) read as UTF-8, .html visible
    text, .pdf via pypdf (pages joined by newlines), .docx via python-docx.

    Raises ExtractionError for unsupported or unreadable files.
    """
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext in TEXT_EXTENSIONS:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        if ext in HTML_EXTENSIONS:
            with open(path, encoding="utf-8") as fh:
                return extract_html_text(fh.read())
    except (OSError, UnicodeDecodeError) as exc:
        raise ExtractionError(f"cannot read {path}: {exc}") from exc
    if ext == ".pdf":
        return "\n".join(extract_pdf_pages(path))
    if ext == ".docx":
        return extract_docx_text(path)
    raise ExtractionError(f"unsupported source type {ext or '(none)'!r}")


# --------------------------------------------------------------------------
# Corpus access
# --------------------------------------------------------------------------


@dataclass
class Corpus:
    """A corpus directory with path resolution and cached text extraction."""

    root: str
    files: list[str] = field(default_factory=list)  # relative, '/'-separated
    _by_basename: dict[str, list[str]] = field(default_factory=dict)
    _text_cache: dict[str, str] = field(default_factory=dict)
    _pages_cache: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, root: str) -> Corpus:
        """Index every file under ``root`` (hidden files and directories are
        skipped)."""
        corpus = cls(root=root)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                rel = rel.replace(os.sep, "/")
                corpus.files.append(rel)
                corpus._by_basename.setdefault(name, []).append(rel)
        return corpus

    def resolve(self, source: str) -> tuple[str | None, str | None]:
        """Map a source as written in a question to a corpus-relative path.

        Returns ``(relpath, None)`` on success or ``(None, reason)``.  The
        source matches a relative path exactly (after normalising ``./`` and
        backslashes), or else a file basename that is unique in the corpus.
        """
        cleaned = source.strip().replace("\\", "/")
        while cleaned.startswith("./"):
            cleaned = cleaned[2:]
        if cleaned in self._by_basename.get(os.path.basename(cleaned), []):
            return cleaned, None
        candidates = self._by_basename.get(os.path.basename(cleaned), [])
        if "/" not in cleaned:
            if len(candidates) == 1:
                return candidates[0], None
            if len(candidates) > 1:
                return None, f"basename is ambiguous ({', '.join(candidates)})"
        return None, "not found in corpus"

    def text(self, rel: str) -> str:
        """Return the normalized extracted text of corpus file ``rel``."""
        if rel not in self._text_cache:
            self._text_cache[rel] = normalize(extract_text(os.path.join(self.root, rel)))
        return self._text_cache[rel]

    def pages(self, rel: str) -> list[str]:
        """Return the normalized text of each page of a PDF corpus file."""
        if rel not in self._pages_cache:
            pages = extract_pdf_pages(os.path.join(self.root, rel))
            self._pages_cache[rel] = [normalize(p) for p in pages]
        return self._pages_cache[rel]


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def validate_schema(rec: Any) -> list[str]:
    """Check the structure of one question record (no corpus access).

    Returns a list of problem descriptions (empty when the record is fine).
    """
    if not isinstance(rec, dict):
        return ["record is not a JSON object"]
    problems: list[str] = []
    for key in REQUIRED_FIELDS:
        if key not in rec:
            problems.append(f"missing field {key!r}")
    for key in rec:
        if key not in REQUIRED_FIELDS and key not in OPTIONAL_FIELDS:
            problems.append(f"unknown field {key!r}")

    if "id" in rec and (not isinstance(rec["id"], str) or not rec["id"].strip()):
        problems.append("'id' must be a non-empty string")
    if "question" in rec and (not isinstance(rec["question"], str) or not rec["question"].strip()):
        problems.append("'question' must be a non-empty string")
    if "answerable" in rec and not isinstance(rec["answerable"], bool):
        problems.append("'answerable' must be a boolean")
    qtype = rec.get("type")
    if "type" in rec and qtype not in ALLOWED_TYPES:
        problems.append(f"'type' {qtype!r} is not one of {', '.join(ALLOWED_TYPES)}")

    sources = rec.get("sources")
    if "sources" in rec:
        if not _is_str_list(sources):
            problems.append("'sources' must be a list of strings")
            sources = None
        elif len(set(sources)) != len(sources):
            problems.append("'sources' has duplicates")

    facts = rec.get("facts")
    if "facts" in rec:
        if not isinstance(facts, list) or not all(_is_str_list(g) for g in facts):
            problems.append("'facts' must be a list of lists of strings")
            facts = None
        else:
            for i, group in enumerate(facts):
                if not group:
                    problems.append(f"facts group {i} is empty")
                for alt in group:
                    if not alt.strip():
                        problems.append(f"facts group {i} has an empty alternative")

    answerable = rec.get("answerable")
    if isinstance(answerable, bool) and qtype in ALLOWED_TYPES:
        if (qtype == "unanswerable") != (not answerable):
            problems.append("type 'unanswerable' must go with answerable=false and vice versa")
    if answerable is False:
        if sources:
            problems.append("unanswerable question must have sources []")
        if facts:
            problems.append("unanswerable question must have facts []")
        if rec.get("pages"):
            problems.append("unanswerable question must not have pages")
    elif answerable is True:
        if sources is not None and not sources:
            problems.append("answerable question needs at least one source")
        if facts is not None and not facts:
            problems.append("answerable question needs at least one facts group")

    if qtype == "multi-doc" and isinstance(sources, list) and len(sources) < 2:
        problems.append("multi-doc question needs at least two sources")

    if "pages" in rec:
        pages = rec["pages"]
        if not isinstance(pages, dict):
            problems.append("'pages' must be an object {source: [page numbers]}")
        else:
            for src, nums in pages.items():
                if isinstance(sources, list) and src not in sources:
                    problems.append(f"pages key {src!r} is not among the sources")
                if (
                    not isinstance(nums, list)
                    or not nums
                    or not all(isinstance(n, int) and not isinstance(n, bool) for n in nums)
                ):
                    problems.append(f"pages for {src!r} must be a non-empty list of integers")

    history = rec.get("history")
    if "history" in rec:
        if not isinstance(history, list):
            problems.append("'history' must be a list of turns")
        else:
            for i, turn in enumerate(history):
                if (
                    not isinstance(turn, dict)
                    or set(turn) != {"role", "content"}
                    or turn.get("role") not in HISTORY_ROLES
                    or not isinstance(turn.get("content"), str)
                    or not turn["content"].strip()
                ):
                    problems.append(
                        f"history turn {i} must be {{'role': 'user'|'assistant', 'content': non-empty str}}"
                    )
    if qtype == "follow-up" and not history:
        problems.append("follow-up question needs a non-empty 'history'")
    if "notes" in rec and not isinstance(rec["notes"], str):
        problems.append("'notes' must be a string")
    return problems


def fact_occurs(fact: str, texts: Iterable[str]) -> bool:
    """Return True if ``fact`` (normalized) is a substring of any of the
    already-normalized ``texts``."""
    needle = normalize(fact)
    return any(needle in t for t in texts)


def validate_against_corpus(rec: dict, corpus: Corpus) -> list[str]:
    """Check a schema-valid record against the corpus: sources exist, page
    numbers are in range (and the listed pages contain at least one fact
    alternative), and every fact alternative occurs in a listed source."""
    problems: list[str] = []
    resolved: dict[str, str] = {}
    texts: list[str] = []
    # Be lenient with malformed fields (validate_schema reports those), so
    # that corpus problems are reported in the same run.
    sources = rec.get("sources") if isinstance(rec.get("sources"), list) else []
    facts = rec.get("facts") if isinstance(rec.get("facts"), list) else []
    facts = [
        [a for a in g if isinstance(a, str) and a.strip()] for g in facts if isinstance(g, list)
    ]
    pages = rec.get("pages") if isinstance(rec.get("pages"), dict) else {}
    for src in sources:
        if not isinstance(src, str):
            continue
        rel, reason = corpus.resolve(src)
        if rel is None:
            problems.append(f"source {src!r}: {reason}")
            continue
        resolved[src] = rel
        try:
            texts.append(corpus.text(rel))
        except ExtractionError as exc:
            problems.append(f"source {src!r}: {exc}")

    for src, nums in pages.items():
        rel = resolved.get(src)
        if rel is None or not isinstance(nums, list):
            continue
        nums = [n for n in nums if isinstance(n, int) and not isinstance(n, bool)]
        if not nums:
            continue
        if not rel.lower().endswith(".pdf"):
            problems.append(f"pages given for {src!r}, which is not a PDF")
            continue
        try:
            page_texts = corpus.pages(rel)
        except ExtractionError as exc:
            problems.append(f"source {src!r}: {exc}")
            continue
        bad = [n for n in nums if not 1 <= n <= len(page_texts)]
        if bad:
            problems.append(f"pages {bad} out of range 1..{len(page_texts)} for {src!r}")
            continue
        selected = [page_texts[n - 1] for n in nums]
        # Consecutive pages joined, so facts split over a page break still match.
        selected.append(" ".join(page_texts[n - 1] for n in sorted(set(nums))))
        all_alts = [alt for group in facts for alt in group]
        if all_alts and not any(fact_occurs(alt, selected) for alt in all_alts):
            problems.append(f"pages {nums} of {src!r} contain none of the facts")

    if texts:
        for i, group in enumerate(facts):
            for alt in group:
                if not fact_occurs(alt, texts):
                    problems.append(f"facts group {i}: {alt!r} not found in any listed source")
    return problems


def load_records(path: str) -> list[tuple[int, Any, str | None]]:
    """Read a JSONL file; return ``(line number, record or None, error)``
    for each non-blank line."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                records.append((lineno, json.loads(line), None))
            except json.JSONDecodeError as exc:
                records.append((lineno, None, f"invalid JSON: {exc}"))
    return records


def check_questions(path: str, corpus_dir: str) -> tuple[list[str], Counter]:
    """Validate every question in the JSONL file ``path`` against the corpus
    in ``corpus_dir``.

    Returns ``(problems, type_counts)`` where each problem is a printable
    line prefixed with the line number and question id.
    """
    problems: list[str] = []
    counts: Counter = Counter()
    if not os.path.isdir(corpus_dir):
        return [f"corpus directory {corpus_dir!r} does not exist"], counts
    corpus = Corpus.load(corpus_dir)
    seen_ids: dict[str, int] = {}
    for lineno, rec, error in load_records(path):
        if error:
            problems.append(f"line {lineno}: {error}")
            continue
        qid = rec.get("id", "?") if isinstance(rec, dict) else "?"
        prefix = f"line {lineno} [{qid}]"
        rec_problems = validate_schema(rec)
        if isinstance(rec, dict):
            counts[rec.get("type", "?")] += 1
            if isinstance(qid, str) and qid in seen_ids:
                rec_problems.append(f"duplicate id (first on line {seen_ids[qid]})")
            elif isinstance(qid, str):
                seen_ids[qid] = lineno
            rec_problems += validate_against_corpus(rec, corpus)
        problems.extend(f"{prefix}: {p}" for p in dict.fromkeys(rec_problems))
    if not seen_ids and not problems:
        problems.append(f"{path}: no questions found")
    return problems, counts


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.check_questions",
        description="Validate an evaluation question set (JSONL) against a corpus.",
    )
    parser.add_argument("questions", help="path to the questions .jsonl file")
    parser.add_argument(
        "--corpus",
        default=os.path.join("..", "shared", "corpus"),
        help="corpus root directory (default: ../shared/corpus)",
    )
    args = parser.parse_args(argv)
    try:
        problems, counts = check_questions(args.questions, args.corpus)
    except OSError as exc:
        print(f"error: {exc}")
        return 1
    for line in problems:
        print(line)
    total = sum(counts.values())
    by_type = ", ".join(f"{t}={counts[t]}" for t in sorted(counts))
    status = "FAIL" if problems else "OK"
    print(f"{status}: {total} questions ({by_type}); {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
