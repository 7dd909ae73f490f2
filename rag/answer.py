"""The default answerer: extractive, offline, no LLM.

It scores every sentence of the retrieved passages against the question (the same embedding
model, plus lexical evidence weighted by rarity, plus the passage's retrieval rank), keeps
the few best non-redundant ones, and writes them in reading order, each with the ``[n]`` of
its passage. For a "why" question, sentences that state a cause are preferred, and the
sentence right after a selected one is taken along when it carries the cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ingest.embed import Encoder
from rag.retrieve import BM25Index, Passage
from rag.text import Sentence, sentences, terms

_CAUSAL = re.compile(
    r"\b(because|due to|owing to|as a result|result(?:ed|s)? (?:in|from)|led to|leads? to|"
    r"caus(?:e|ed|es|ing)|reason|meant to|in order to|so that|aimed at|angered|anger|"
    r"prompted|after|since|following|in response|retaliat\w*|to limit|to address|"
    r"to protect|to prevent|to ensure|for the purpose|purpose of|in light of)\b",
    re.I,
)
_WHY = re.compile(r"^\s*(why|what (?:caused|led|prompted|explains)|how come|for what reason)\b|\bwhy\b", re.I)
_HEADING_LINE = re.compile(r"^(#{1,6}\s|§|Article\s+\d|Chapter\s|SUBCHAPTER|Annex\s)", re.I)


@dataclass
class ScoredSentence:
    passage: int  # index into the passages list
    sentence: Sentence
    cosine: float
    lexical: float
    score: float
    embedding: np.ndarray


@dataclass
class Draft:
    """An answer before citation checking: text with [n] markers that index passages."""

    text: str
    evidence: float  # how well the best evidence answers the question (for refusal)
    coverage: float  # share of the question's key terms found in the passages
    sentences: list[ScoredSentence]


def is_why(question: str) -> bool:
    return bool(_WHY.search(question))


def score_sentences(question: str, passages: list[Passage], encoder: Encoder,
                    bm25: BM25Index | None, q_emb: np.ndarray | None = None) -> list[ScoredSentence]:
    """Every usable sentence of ``passages``, scored against ``question``."""
    q_terms = set(terms(question))
    weights = {t: (bm25.idf_of(t) if bm25 is not None else 1.0) for t in q_terms}
    total_w = sum(weights.values()) or 1.0
    why = is_why(question)
    items: list[tuple[int, Sentence]] = []
    for pi, p in enumerate(passages):
        for s in sentences(p.text):
            words = len(s.text.split())
            if words < 4 or _HEADING_LINE.match(s.text) and words < 14:
                continue
            items.append((pi, s))
    if not items:
        return []
    if q_emb is None:
        q_emb = np.asarray(encoder.embed_one(question), dtype=np.float32)
    embs = np.asarray(encoder.embed([s.text for _, s in items]), dtype=np.float32)
    cos = embs @ q_emb
    out = []
    for (pi, s), c, e in zip(items, cos, embs, strict=True):
        s_terms = set(terms(s.text))
        lex = sum(w for t, w in weights.items() if t in s_terms) / total_w
        rank_prior = 1.0 / (1.0 + 0.25 * pi)
        score = 0.55 * float(c) + 0.30 * lex + 0.15 * rank_prior
        if why and _CAUSAL.search(s.text):
            score += 0.06
        out.append(ScoredSentence(pi, s, float(c), lex, score, e))
    return out


def key_term_coverage(question: str, passages: list[Passage], bm25: BM25Index | None) -> float:
    """IDF-weighted share of the question's terms that occur in the retrieved passages."""
    q_terms = set(terms(question))
    if not q_terms:
        return 0.0
    text_terms: set[str] = set()
    for p in passages:
        text_terms.update(terms(f"{p.meta.heading_path} {p.text}"))
    weights = {t: (bm25.idf_of(t) if bm25 is not None else 1.0) for t in q_terms}
    total = sum(weights.values()) or 1.0
    return sum(w for t, w in weights.items() if t in text_terms) / total


def extractive_answer(question: str, passages: list[Passage], encoder: Encoder,
                      bm25: BM25Index | None, max_sentences: int = 4,
                      q_emb: np.ndarray | None = None) -> Draft:
    """Pick and order the sentences that best answer ``question``; mark each with [n]
    where n is 1 + the index of its passage."""
    scored = score_sentences(question, passages, encoder, bm25, q_emb)
    coverage = key_term_coverage(question, passages, bm25)
    if not scored:
        return Draft("", 0.0, coverage, [])
    ranked = sorted(scored, key=lambda x: -x.score)
    best = ranked[0].score
    chosen: list[ScoredSentence] = []
    for cand in ranked:
        if len(chosen) >= max_sentences or cand.score < best * 0.8:
            break
        if any(float(cand.embedding @ c.embedding) > 0.9 for c in chosen):
            continue  # near-duplicate of a chosen sentence
        chosen.append(cand)
    if is_why(question):
        chosen = _with_causes(chosen, scored, max_sentences + 1)
    # Reading order: passages by rank, sentences by position within their passage.
    chosen.sort(key=lambda x: (x.passage, x.sentence.start))
    parts = [_with_marker(c.sentence.text, c.passage + 1) for c in chosen]
    evidence = 0.7 * ranked[0].cosine + 0.3 * ranked[0].lexical
    return Draft(" ".join(parts), evidence, coverage, chosen)


def _with_causes(chosen: list[ScoredSentence], scored: list[ScoredSentence],
                 limit: int) -> list[ScoredSentence]:
    """Take along the sentence that follows a chosen one when it states a cause."""
    by_pos = {(s.passage, s.sentence.start): i for i, s in enumerate(scored)}
    order = sorted(scored, key=lambda x: (x.passage, x.sentence.start))
    index = {id(s): i for i, s in enumerate(order)}
    extra: list[ScoredSentence] = []
    for c in chosen:
        i = index.get(id(c))
        if i is None:
            continue
        for nxt in order[i + 1:i + 3]:
            if nxt.passage != c.passage:
                break
            if _CAUSAL.search(nxt.sentence.text) and nxt not in chosen and nxt not in extra:
                extra.append(nxt)
                break
    del by_pos
    return (chosen + extra)[: max(limit, len(chosen))]


def _with_marker(sentence: str, n: int) -> str:
    """Put ``[n]`` before the sentence's final punctuation.

    >>> _with_marker("It ended in 2020.", 2)
    'It ended in 2020 [2].'
    """
    s = sentence.strip()
    s = re.sub(r"\s*\n\s*", " ", s)
    m = re.search(r"([.!?;:]['\"”’)]*)$", s)
    if m:
        return f"{s[:m.start()].rstrip()} [{n}]{m.group(1).rstrip(';:') or '.'}"
    return f"{s} [{n}]."
