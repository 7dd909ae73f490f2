"""Citation checking: every ``[n]`` must resolve to a retrieved passage that supports its
sentence. A marker whose passage does not support the sentence is re-pointed to the passage
that does, or dropped; it is never shown as is. Surviving markers are renumbered 1..m in
order of appearance, and each becomes a ``Citation`` with the supporting quote and its
character span in the document (checked against the stored document text)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ingest.embed import Encoder
from rag.models import Citation
from rag.rerank import SentenceBank
from rag.retrieve import Passage
from rag.text import sentences, terms

MARKER = re.compile(r"\s?\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_MARKED_END = re.compile(r"(?<=\][.!?])\s+(?=[^a-z]|[a-z]{1,4}\)\s)")  # not "U.S. [1] raised"
_AFTER_STOP = re.compile(r"([.!?]['\"”’)]*)((?:\s?\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+)(?=\s|$)")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def split_marked(answer: str) -> list[tuple[str, list[int]]]:
    """Answer sentences with the markers they carry.

    >>> split_marked("Tariffs rose [1]. Canada hit back [2, 3]. No source here.")
    [('Tariffs rose.', [1]), ('Canada hit back.', [2, 3]), ('No source here.', [])]
    >>> split_marked("Tariffs rose. [1] Canada hit back.[2][3]")
    [('Tariffs rose.', [1]), ('Canada hit back.', [2, 3])]
    >>> split_marked("- 25% on most goods [1]. - 10% on energy [2].")
    [('- 25% on most goods.', [1]), ('- 10% on energy.', [2])]
    >>> split_marked("The Parties shall cooperate [5]. a) monitoring imports [6].")
    [('The Parties shall cooperate.', [5]), ('a) monitoring imports.', [6])]
    """
    # LLMs often put the marker after the full stop ("rose. [1] Canada"): the sentence
    # splitter would give it to the next sentence, so move it before the stop first.
    answer = _AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", answer)
    # A marker and a stop end a sentence even when the next one starts with a list dash,
    # "**" or a lettered item (the splitter wants a capital or digit): "item one [1]. - item
    # two [2].", "... cooperate [5]. a) monitoring ... [6]."
    pieces = _MARKED_END.split(answer)
    out = []
    for s in (s for piece in pieces for s in sentences(piece)):
        nums = [int(n) for m in MARKER.finditer(s.text) for n in re.split(r"\s*,\s*", m.group(1))]
        clean = _norm(MARKER.sub("", s.text))
        clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
        out.append((clean, nums))
    return out


@dataclass
class Support:
    passage: int
    quote: str
    start: int  # offset within the passage text
    end: int
    score: float


class CitationChecker:
    """Finds, for an answer sentence, the passage sentence that supports it best.

    Passage sentences and their embeddings come from the ``SentenceBank`` (computed once per
    chunk); only the answer's own sentences are embedded here.
    """

    def __init__(
        self,
        encoder: Encoder,
        passages: list[Passage],
        bank: SentenceBank,
        min_support: float = 0.55,
        cache: dict[str, np.ndarray] | None = None,
    ):
        self.encoder = encoder
        self.passages = passages
        self.bank = bank
        self.min_support = min_support
        self.cache = cache if cache is not None else {}
        self._banked: dict[int, tuple[list, np.ndarray]] = {}

    def _embed(self, text: str) -> np.ndarray:
        key = _norm(text)
        if key not in self.cache:
            self.cache[key] = np.asarray(self.encoder.embed_one(key), dtype=np.float32)
        return self.cache[key]

    def _sentences(self, passage: int) -> tuple[list, np.ndarray]:
        if passage not in self._banked:
            self._banked[passage] = self.bank.get([self.passages[passage]])[0]
        return self._banked[passage]

    def support(self, sentence: str, passage: int) -> Support | None:
        """The best-supporting sentence of ``passages[passage]``."""
        cands, c_embs = self._sentences(passage)
        if not cands:
            return None
        s_emb = self._embed(sentence)
        s_terms = set(terms(sentence))
        best: Support | None = None
        for c, cos in zip(cands, c_embs @ s_emb, strict=True):
            c_terms = set(terms(c.text))
            overlap = len(s_terms & c_terms) / max(1, len(s_terms))
            score = 0.7 * float(cos) + 0.3 * overlap
            if best is None or score > best.score:
                best = Support(passage, c.text, c.start, c.end, score)
        return best

    def best_anywhere(self, sentence: str) -> Support | None:
        found = [self.support(sentence, i) for i in range(len(self.passages))]
        found = [f for f in found if f is not None]
        return max(found, key=lambda f: f.score) if found else None


def verify(
    answer: str,
    passages: list[Passage],
    checker: CitationChecker,
    document_text: Callable[[str], str | None],
) -> tuple[str, list[Citation], float]:
    """Check every marker of ``answer``; return the rewritten text, its citations, and the
    share of sentences that carry a supported citation."""
    pieces: list[str] = []
    citations: list[Citation] = []
    key_to_n: dict[tuple[str, int], int] = {}
    supported_sentences = 0
    marked = split_marked(answer)
    for sentence, nums in marked:
        resolved: list[int] = []
        for n in nums or []:
            sup = None
            if 1 <= n <= len(passages):
                sup = checker.support(sentence, n - 1)
            if sup is None or sup.score < checker.min_support:
                alt = checker.best_anywhere(sentence)  # repair: the passage that does support it
                sup = alt if alt is not None and alt.score >= checker.min_support else None
            if sup is None:
                continue  # dropped: no retrieved passage supports this sentence
            cit = _to_citation(sup, passages, document_text)
            if cit is None:
                continue
            key = (cit.source, cit.start)
            if key not in key_to_n:
                cit.n = len(citations) + 1
                key_to_n[key] = cit.n
                citations.append(cit)
            if key_to_n[key] not in resolved:
                resolved.append(key_to_n[key])
        if resolved:
            supported_sentences += 1
        pieces.append(_attach(sentence, resolved))
    share = supported_sentences / len(marked) if marked else 0.0
    return " ".join(pieces).strip(), citations, share


def _to_citation(
    sup: Support, passages: list[Passage], document_text: Callable[[str], str | None]
) -> Citation | None:
    p = passages[sup.passage]
    start = p.meta.start + sup.start
    end = p.meta.start + sup.end
    doc = document_text(p.meta.source)
    if doc is not None and doc[start:end] != sup.quote:
        # The stored document moved under us (re-ingested): find the quote again, or drop it.
        found = doc.find(sup.quote)
        if found < 0:
            return None
        start, end = found, found + len(sup.quote)
    return Citation(
        n=0,
        source=p.meta.source,
        title=p.meta.title,
        section=p.meta.section_label,
        page=p.meta.page,
        quote=sup.quote,
        start=start,
        end=end,
        score=round(max(0.0, min(1.0, sup.score)), 4),
    )


def _attach(sentence: str, nums: list[int]) -> str:
    if not nums:
        return sentence
    marks = "".join(f"[{n}]" for n in nums)
    m = re.search(r"([.!?]['\"”’)]*)$", sentence)
    if m:
        return f"{sentence[: m.start()].rstrip()} {marks}{m.group(1)}"
    return f"{sentence} {marks}"
