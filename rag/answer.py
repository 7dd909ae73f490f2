"""The default answerer: extractive, offline, no LLM.

From the sentences that re-ranking scored (embedding cosine, rarity-weighted term overlap,
the kind of content the question asks for), it keeps the few best non-redundant ones and
writes them in reading order, each with the ``[n]`` of its passage. For a "why" question the
sentence right after a chosen one is taken along when it states a cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.rerank import (
    _CAUSAL,
    ScoredSentence,
    asked_in,
    expected_pattern,
    holds_kind,
    is_why,
    term_share,
    term_weights,
)
from rag.retrieve import BM25Index, Passage
from rag.text import FOOTNOTE, identifiers, terms

# A sentence from past the passages the answer reads joins it at this share of the best score.
LATE_RATIO = 0.85


@dataclass
class Draft:
    """An answer before citation checking: text with [n] markers that index passages."""

    text: str
    evidence: float  # how well the best sentence answers the question (for refusal)
    coverage: float  # share of the question's key terms found in the passages
    sentences: list[ScoredSentence]
    has_asked_kind: bool = True  # a date for "when", a number for "how many", ...


def key_term_coverage(question: str, passages: list[Passage], bm25: BM25Index | None) -> float:
    """IDF-weighted share of the question's terms that occur in the retrieved passages."""
    weights = term_weights(question, bm25)
    if not weights:
        return 0.0
    text_terms: set[str] = set()
    for p in passages:
        text_terms.update(terms(f"{p.meta.heading_path} {p.text}"))
    return term_share(weights, text_terms)


def extractive_answer(
    question: str,
    passages: list[Passage],
    scored: list[ScoredSentence],
    bm25: BM25Index | None,
    max_sentences: int = 6,
    keep_ratio: float = 0.7,
    asked: str | None = None,
    aspects: list[tuple[str, np.ndarray]] | None = None,
    min_sentences: int = 4,
    min_ratio: float = 0.5,
    fill_cosine: float = 0.35,
    max_extra: int = 2,
    kind_ratio: float = 0.87,
    role_ratio: float = 0.6,
    further: list[ScoredSentence] | None = None,
    late_ratio: float = LATE_RATIO,
) -> Draft:
    """Pick and order the sentences that best answer ``question``; mark each with [n]
    where n is 1 + the index of its passage. ``asked`` is the user's own wording (before a
    follow-up was made standalone): it says what kind of answer is wanted.

    The first ``min_sentences`` are taken while they score at least ``min_ratio`` of the
    best (such fillers must be close to the question in meaning, cosine ``fill_cosine``,
    and come from the best sentence's document), more (up to ``max_sentences``) while they
    score ``keep_ratio`` of it. ``aspects``
    are the parts of a question that asks two things ("How many members, and how is the
    chair picked?"), each with its embedding: each part's best sentence is taken too. With
    those, continuations, causes and list items, an answer has at most ``max_sentences +
    max_extra`` sentences. ``further`` are the sentences of the passages retrieved beyond
    those read for the answer (and of a spare passage that re-ranking left out): besides
    serving the parts, the best of them is added when it scores at least ``late_ratio`` of
    the best (the lead holds no better statement of it).

    ``has_asked_kind`` says whether a sentence scoring at least ``kind_ratio`` of the best
    holds the kind of content asked for (a date, a number, a percentage, an amount of money,
    a name, an outcome: see ``rerank.expected_pattern``), beyond what the question itself
    states; for "who chairs ...?", a name in a sentence stating that role and scoring at
    least ``role_ratio`` of the best (see ``role_verb``). Refusal reads ``judged`` scores,
    and ``evidence`` is that of the best-judged sentence."""
    coverage = key_term_coverage(question, passages, bm25)
    if not scored:
        return Draft("", 0.0, coverage, [])
    ranked = sorted(scored, key=lambda x: -x.score)
    top = ranked[0]
    best = top.score
    chosen: list[ScoredSentence] = []
    for cand in ranked:
        # The best few always (a close second often holds the rest of the answer), then
        # more only while they score near the best.
        floor = best * (
            min_ratio if len(chosen) < min(min_sentences, max_sentences) else keep_ratio
        )
        if len(chosen) >= max_sentences or cand.score < floor:
            break
        if cand.score < best * keep_ratio and (  # only filling up to min_sentences
            cand.cosine < fill_cosine  # about something else
            or _source(passages, cand) != _source(passages, top)  # from another document
        ):
            continue
        if any(_same_statement(cand, c) for c in chosen):
            continue  # near-duplicate of a chosen sentence
        chosen.append(cand)
    for part, emb in aspects or []:
        best_part = _best_for(part, emb, scored + (further or []), bm25)
        if best_part is not None and best_part not in chosen:
            chosen.append(best_part)
    chosen = _with_continuations(chosen, scored)
    if is_why(question):
        chosen = _with_causes(chosen, scored)
    chosen = _with_list_items(chosen, scored)
    # The sentences brought along were appended last: they go first when there are too many.
    chosen = chosen[: max_sentences + max_extra]
    # A passage ranked just past the lead may state the answer as well as the best sentence
    # does ("within 30 days following ..."): its best sentence joins, past the cap, so that
    # it takes no place from the lead's.
    late = max(further or [], key=lambda x: x.score, default=None)
    if (
        late is not None
        and late not in chosen
        and late.score >= best * late_ratio
        and not any(_same_statement(late, c) for c in chosen)
    ):
        chosen.append(late)
    # Reading order: passages by rank, sentences by position within their passage.
    chosen.sort(key=lambda x: (x.passage, x.sentence.start))
    parts = [with_marker(c.sentence.text, c.passage + 1) for c in chosen]
    # Refusal judges by ``judged`` scores (the kind bonus at its evidence weight).
    judge = max(ranked, key=lambda c: c.judged)
    evidence = 0.6 * judge.meaning + 0.4 * judge.lexical
    wanted = expected_pattern(asked or question)
    own = asked_in(wanted, asked or question)
    # ... in a sentence that answers about as well as the best one, not far down the list.
    near_top = [c for c in ranked if c.judged >= judge.judged * kind_ratio]
    has_kind = wanted is None or any(holds_kind(wanted, own, c.sentence.text) for c in near_top)
    # "Who chairs the Board?": a name in a sentence that states that role, within a wider
    # window (a role verb is rarer than a name).
    role = role_verb(asked or question)
    if has_kind and role is not None:
        has_kind = any(
            c.judged >= judge.judged * role_ratio
            and holds_kind(wanted, own, c.sentence.text)
            and any(t.startswith(role) for t in terms(c.sentence.text))
            for c in ranked
        )
    return Draft(" ".join(parts), evidence, coverage, chosen, has_kind)


_WHO_VERB = re.compile(
    r"^\s*(?:and\s+)?who\s+(?:(?:is|are|was|were|has been|have been|will be)\s+"
    r"(?:appointed|named|chosen|selected|elected|designated)\s+(?:to|as)\s+(?:the\s+)?)?"
    r"(?:[a-z]+-)?([a-z]+)\b",
    re.I,
)
_AUXILIARY = frozenset(
    "is are was were be been does do did can could will would should shall must may might "
    "has have had else".split()
)


def role_verb(question: str) -> str | None:
    """The role a "who" question asks about ("Who chairs the Board?" -> "chair"): the name
    that answers it must stand in a sentence that states that role ("The Trade
    Representative shall chair ..."), not in any sentence that names someone. None for
    "who is/was/are ..." and questions that do not start with "who".

    >>> role_verb("Who co-chairs the committee?"), role_verb("Who was the chair?")
    ('chair', None)
    >>> role_verb("Who was appointed to chair the Board?")
    'chair'
    >>> role_verb("Who is allowed to sue?") is None
    True
    """
    m = _WHO_VERB.match(question)
    if m is None or m.group(1).lower() in _AUXILIARY:
        return None
    stems = terms(m.group(1))
    return stems[0] if stems and len(stems[0]) >= 4 else None


_FIGURE = re.compile(r"\d[\d,.]*")


def _same_statement(a: ScoredSentence, b: ScoredSentence) -> bool:
    """Near-duplicates: close in meaning and stating the same figures. A roster "of up to
    30 individuals" and one "of up to 15" read alike to the encoder but are two answers."""
    if float(a.embedding @ b.embedding) <= 0.9:
        return False
    return set(_FIGURE.findall(a.sentence.text)) == set(_FIGURE.findall(b.sentence.text))


def _following(c: ScoredSentence, scored: list[ScoredSentence], n: int) -> list[ScoredSentence]:
    """Up to ``n`` sentences that come right after ``c`` in the same passage."""
    after = [s for s in scored if s.passage == c.passage and s.sentence.start > c.sentence.start]
    return sorted(after, key=lambda s: s.sentence.start)[:n]


def _source(passages: list[Passage], sc: ScoredSentence) -> str | None:
    meta = passages[sc.passage].meta if sc.passage < len(passages) else None
    return meta.source if meta is not None else None


def _best_for(
    part: str, emb: np.ndarray, scored: list[ScoredSentence], bm25: BM25Index | None
) -> ScoredSentence | None:
    """The sentence that best answers one part of a two-part question."""
    weights = term_weights(part, bm25)
    wanted = expected_pattern(part)
    best, best_score = None, 0.0
    for sc in scored:
        lex = term_share(weights, set(terms(sc.sentence.text)))
        score = 0.6 * float(sc.embedding @ emb) + 0.4 * lex
        if wanted is not None and wanted.search(sc.sentence.text):
            score += 0.05
        if score > best_score:
            best, best_score = sc, score
    return best


# A sentence that leans on the one before it ("That's particularly the case in Ontario").
_CONTINUES = re.compile(
    r"^[\"“‘]?(That|This|These|Those|It|Its|They|Their|Such|But|However|Still|Yet|Instead|"
    r"Because|As a result|In response|Even so|Since then)\b"
)


def _with_continuations(
    chosen: list[ScoredSentence], scored: list[ScoredSentence], lead: int = 2
) -> list[ScoredSentence]:
    """The best ``lead`` sentences bring the next one when it continues their thought."""
    out = list(chosen)
    for c in chosen[:lead]:
        for nxt in _following(c, scored, 1):
            if _CONTINUES.match(nxt.sentence.text) and nxt not in out:
                out.append(nxt)
    return out


# Where a question asks a second thing: ", and how ...", "; what ...".
_ASPECT_SPLIT = re.compile(
    r"(?:,\s*(?:and|or|but)\s+|;\s*|\?\s+|\s+and\s+(?=(?:how|what|when|who|which|why|"
    r"where|whether|is|are|does|did|do|can|was|were)\b))",
    re.I,
)


def question_aspects(question: str) -> list[str]:
    """The parts of a question that asks several things; [] for a single question.

    >>> question_aspects("How many members does it have, and how is the chair picked?")
    ['How many members does it have', 'how is the chair picked?']
    >>> question_aspects("When did the USMCA enter into force?")
    []
    """
    parts = [p.strip() for p in _ASPECT_SPLIT.split(question) if p and p.strip()]
    parts = [p for p in parts if len(terms(p)) >= 2]
    return parts if len(parts) > 1 else []


def _with_causes(
    chosen: list[ScoredSentence], scored: list[ScoredSentence], max_causes: int = 2
) -> list[ScoredSentence]:
    """Take along the sentence that follows a chosen one when it states a cause; a cause
    taken along may bring its own ("... a low point." -> "Trudeau angered Mexico by imposing
    visas." -> "The measure was meant to limit asylum claims.")."""
    extra: list[ScoredSentence] = []
    queue = list(chosen)
    while queue and len(extra) < max_causes:
        c = queue.pop(0)
        for nxt in _following(c, scored, 2):
            if _CAUSAL.search(nxt.sentence.text) and nxt not in chosen and nxt not in extra:
                extra.append(nxt)
                queue.insert(0, nxt)
                break
    return chosen + extra  # the loop stops at max_causes


_INTRODUCER = re.compile(r"(:|—|\bshall be\.?|\bfollowing\.?|\bincludes?\.?|\bmeans\.?)\s*$", re.I)


# How a complete sentence or list item ends. Statutes break one sentence into items: "(A) the
# value of all nonoriginating materials ... set forth in Annex 4-B of the USMCA" goes on in
# "(i) does not exceed 10 percent of the transaction value of the good".
_ENDED = re.compile(r"[.!?;)\]\"”’']\s*$")


def _with_list_items(
    chosen: list[ScoredSentence],
    scored: list[ScoredSentence],
    max_items: int = 3,
    max_unended: int = 1,
) -> list[ScoredSentence]:
    """A chosen sentence that introduces a list ("... shall be:") brings its first items; one
    that stops mid-clause brings the item that goes on with it."""
    out = list(chosen)
    for c in chosen:
        if _INTRODUCER.search(c.sentence.text):
            n = max_items
        elif not _ENDED.search(c.sentence.text):
            n = max_unended
        else:
            continue
        for nxt in _following(c, scored, n):
            if nxt not in out:
                out.append(nxt)
    return out


def with_marker(sentence: str, n: int) -> str:
    """Put ``[n]`` before the sentence's final punctuation, on one line.

    >>> with_marker("It ended in 2020.", 2)
    'It ended in 2020 [2].'
    >>> with_marker("It opened in 1952.[1]", 3)  # a wiki footnote is not our citation
    'It opened in 1952 [3].'
    """
    s = FOOTNOTE.sub("", re.sub(r"\s*\n\s*", " ", sentence.strip()))
    m = re.search(r"([.!?;:,]['\"”’)]*)$", s)
    if m:
        end = m.group(1).rstrip(";:,") or "."
        return f"{s[: m.start()].rstrip()} [{n}]{end}"
    return f"{s} [{n}]."


_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how does do did is are was were can could "
    "should would will under in and so the a an if once according as after before for of "
    "to on at by with from suppose i i'm i’m i've i’ve i'd i’d we my our".split()
    # Days and months are capitalized but name no one: "do Saturdays count?" is not about
    # an entity the documents must know.
    + "monday mondays tuesday tuesdays wednesday wednesdays thursday thursdays friday "
    "fridays saturday saturdays sunday sundays january february march april june july "
    "august september october november december".split()
)
_NUMBER = re.compile(r"(?<![\w.§])\d[\d,]*(?:\.\d+)?(?![\w])")
_PREMISE = re.compile(
    r"[:.]\s+(?=(?:so\s+|and\s+|then\s+)?(?:what|which|who|whom|whose|when|where|why|how|"
    r"does|do|did|is|are|was|were|can|could|should|would|will|must|may)\b)",
    re.I,
)
# Where a capital letter says nothing: the start of the question or of one of its sentences.
_SENTENCE_START = re.compile(r"(?:^|[.?!:;]\s+)[\"'“‘(]?$")
_ENTITY = re.compile(r"\b[A-Z][\w.&'’-]*(?:\s+(?:of\s+)?[A-Z][\w.&'’-]*)*")


def _spelled_out(acronym: str, text: str) -> bool:
    """Whether ``text`` spells out ``acronym`` ("EPA": "Environmental Protection Agency").

    >>> _spelled_out("EPA", "the Administrator of the Environmental Protection Agency shall")
    True
    >>> _spelled_out("EPA", "the Energy Policy Act")
    True
    >>> _spelled_out("EPA", "each Party shall")
    False
    """
    if not (2 <= len(acronym) <= 6 and acronym.isupper() and acronym.isalpha()):
        return False
    words = r"\s+(?:(?:of|and|for|the|on|de|du|des|la)\s+)*".join(rf"{c}[a-z]+" for c in acronym)
    return re.search(rf"\b{words}\b", text) is not None


def unsupported_constraints(
    question: str, passages: list[Passage], bm25: BM25Index | None
) -> list[str]:
    """Specifics the question names that the evidence cannot speak to.

    Three kinds: a number of two or more digits (a year, an amount) that occurs in none of
    the retrieved passages (identifiers such as "Article 2205" aside); an identifier that no
    passage of the whole index holds; and a name whose words occur nowhere in the whole
    index (the documents are not about it at all).

    >>> unsupported_constraints("Who chaired the 2026 review?", [], None)
    ['2026']
    >>> unsupported_constraints("It began in 2025: who chairs the review?", [], None)
    []
    """
    text = " ".join(f"{p.meta.heading_path} {p.text}" for p in passages)
    missing: list[str] = []
    # A premise stated before the question proper ("The review began in September 2025: what
    # does the law require?") is context: its numbers are not what is asked.
    asked = _PREMISE.split(question)[-1]
    q_wo_ids = re.sub(
        r"(?i)\b(article|section|annex|chapter|order|no\.)\s+[\d.]+|§+\s*[\d.]+|"
        r"\b\d+\s+U\.?S\.?C\.?",
        " ",
        asked,
    )
    for num in _NUMBER.findall(q_wo_ids):
        digits = num.replace(",", "")
        if len(digits.replace(".", "")) >= 2 and num not in text and digits not in text:
            missing.append(num)
    if bm25 is not None:
        # An article or section the documents never mention ("Article 34.6" of a corpus
        # holding only 34.1). "19 U.S.C. 4611" is left out: the Code prints it "§ 4611".
        missing += [i for i in identifiers(asked) if "U.S.C." not in i and not bm25.holds(i)]
        for match in _ENTITY.finditer(question):
            words = [w.strip(".’'") for w in match.group(0).split()]
            words = [w for w in words if w and w.lower() not in _QUESTION_WORDS]
            if (
                len(words) == 1
                and not re.search(r"['’]s$", match.group(0))  # "Brazil's tariffs" names
                and _SENTENCE_START.search(question[: match.start()])
            ):
                continue  # "Roughly how much ...?": capitalised for its place, not a name
            known = [
                w
                for w in words
                if any(t in bm25.vocab or t in bm25.source_terms for t in terms(w))
                or _spelled_out(w, text)
            ]
            # A name none of whose words the documents use, or two of whose words they never
            # use ("African Continental Free Trade Area"): on a small corpus, a single unseen
            # common word ("Department") says little.
            unknown = [w for w in words if w not in known and terms(w)]
            if unknown and (not known or len(unknown) >= 2):
                missing.append(" ".join(words))
    return missing
