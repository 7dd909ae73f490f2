"""Sentence-level re-ranking of the fused candidates.

Each candidate passage is scored by its best sentence against the question (embedding
cosine, rarity-weighted term overlap, and whether the sentence has the kind of content the
question asks for: a date for "when", a number for "how many", a cause for "why"). The
final passages mix that with the fused retrieval score and are picked by MMR with a cap per
document. The sentence scores are kept: the extractive answerer reads them.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ingest.embed import Encoder
from rag.glossary import related_terms
from rag.retrieve import BM25Index, Passage, mmr
from rag.text import FOOTNOTE, Sentence, identifiers, path_terms, sentences, terms

_CAUSAL = re.compile(
    r"\b(because|due to|owing to|as a result|result(?:ed|s)? (?:in|from)|led to|leads? to|"
    r"caus(?:e|ed|es|ing)|reasons?|meant to|in order to|so that|aimed at|angered|anger|"
    r"prompted|in response|retaliat\w*|to limit|to address|to protect|to prevent|"
    r"to ensure|for the purpose|purpose of|in light of|threat|concern\w*|distrust|"
    r"fear\w*|blam\w*|explain\w*|motivat\w*|driven by|stem(?:s|med)? from|rooted in|"
    r"trigger\w*|irritant|aims?)\b",
    re.I,
)
_MONTH_NAME = (
    r"(?:January|February|March|April|May|June|July|August|September|October|"
    r"November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)"
)
# What answers "when": a year, a month, a weekday, a duration or a time relation.
_DATE = re.compile(
    rf"\b(1[89]\d\d|20\d\d)\b|\b{_MONTH_NAME}\b|\b(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b|"
    r"\b\d+\s*(days?|weeks?|months?|years?)\b|\b(annual(ly)?|quarterly|monthly|weekly|daily|"
    r"each (year|month|week)|before|after|within|until|upon|no later than|not later than)\b",
    re.I,
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    "forty|fifty|sixty|seventy|eighty|ninety|hundred"
)
_NUMBER = re.compile(rf"\d|\b({_NUMBER_WORDS}|percent|half|third|quarter)\b", re.I)
_NAME = re.compile(
    r"\b[A-Z][a-z]+\s+[A-Z][a-z]+\b|\b(President|Minister|Secretary|Representative|"
    r"Commission|Council|Committee|Board|Attorney|Department|Commissioner|Party)\b"
)
# What answers "on what date": a day of a month ("January 1, 1994", "30 January 1944",
# "March 4", "2020-07-01"), not a year or a "before".
_DAY_DATE = re.compile(
    rf"\b{_MONTH_NAME}\.?\s*\d{{1,2}}(?:st|nd|rd|th)?\b|\b\d{{1,2}}\s+{_MONTH_NAME}\b|"
    r"\b\d{4}-\d{2}-\d{2}\b|\b(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b",
)
# What answers "what percentage / share / rate": a percentage or a fraction.
_PERCENT = re.compile(
    rf"(\d|\b({_NUMBER_WORDS}))\s*(%|percent\b|per\s+cent\b)|"
    r"\b(half|one[- ]third|two[- ]thirds|one[- ]quarter|three[- ]quarters|one[- ]fifth)\b",
    re.I,
)
# What answers "how often": a number or a frequency ("annually", "once a year").
_FREQUENCY = re.compile(
    rf"{_NUMBER.pattern}|\b(annual(ly)?|yearly|quarterly|monthly|weekly|daily|once|twice|"
    r"each|every|per)\b",
    re.I,
)
# What answers "how many dollars / how much money": an amount of money.
_MONEY = re.compile(
    r"([$€£]|\b(US|C|CA|Can)\$)\s*\d|\d[\d,.]*\s*(billion|million|trillion|thousand)?\s*"
    r"(dollars?|pesos?|euros?)\b|\d[\d,.]*\s*(billion|million|trillion)\b",
    re.I,
)
# What answers "what did they agree / sign / decide / rule": an outcome stated as done or
# in force ("signed", "the Parties agree"), not one previewed ("are expected to sign").
_OUTCOME = re.compile(
    r"(?<!\bto )(?<!\bwill )(?<!\bwould )(?<!\bmay )(?<!\bcould )(?<!\bmight )"
    r"\b(agree[sd]?|sign(s|ed)?|decide[sd]?|ruled|conclude[sd]?|announce[sd]?|reach(es|ed)?|"
    r"settle[sd]?|approved|adopted)\b(?!\s*:)",  # not a field label ("Signed: 2018")
    re.I,
)
_ASKS = [
    (
        re.compile(
            # Not "what share did cars have to reach": an infinitive is a requirement.
            r"\bwhat\b.*\bdid\b.*(?<!\bto )\b(agree|sign|decide|rule|conclude|announce|reach|"
            r"settle)(ing)?\b",
            re.I,
        ),
        _OUTCOME,
    ),
    (re.compile(r"\b(what|which)\s+(exact\s+|precise\s+)?(date|day)\b", re.I), _DAY_DATE),
    (
        re.compile(
            r"\b(dollars?|billions?|millions?|money|pesos?|euros?|wages?|salar\w+)\b|"
            r"\bhow much\b.*\b(pay|paid|cost|compensation|worth)\b",
            re.I,
        ),
        _MONEY,
    ),
    (re.compile(r"\bhow\s+often\b", re.I), _FREQUENCY),
    (
        re.compile(
            r"\bwhat\s+([\w-]+\s+){0,3}(percentages?|shares?|proportions?|rates?|per\s*cent)\b",
            re.I,
        ),
        _PERCENT,
    ),
    (
        re.compile(
            # Not "When a Party expropriates ..., how is ... worked out?": a condition.
            r"^\s*(when|by when)\b(?![^?]*,\s*(what|which|who|how|why|where|does|do|is|are|"
            r"can|must|may|should|will|would)\b)|\b(what|which) (date|year|day|month)\b|"
            r"\bsince when\b",
            re.I,
        ),
        _DATE,
    ),
    (
        re.compile(
            r"\bhow (many|much|long|often|soon|big|large|far)\b|\bwhat\s+((is|are|was|were)\s+"
            r"the\s+)?([\w-]+\s+)?(amounts?|thresholds?|deadlines?|periods?)\b|\b(minimum|"
            r"maximum|largest|biggest|highest|lowest)\b",
            re.I,
        ),
        _NUMBER,
    ),
    (
        re.compile(
            r"^\s*(who|whom|whose)\b|\bwhich\s+(\w+\s+)?(countr\w+|person|leaders?|officials?|"
            r"agency|body|minister|committee|official)\b",
            re.I,
        ),
        _NAME,
    ),
]
_WHY = re.compile(r"^\s*(why|what (caused|led|prompted|explains))\b|\bwhy\b|\breasons?\b", re.I)
_HEADING_LINE = re.compile(r"^(#{1,6}\s|§|Article\s+\d|Chapter\s|SUBCHAPTER|Annex\s)", re.I)


def is_why(question: str) -> bool:
    return bool(_WHY.search(question))


def expected_pattern(question: str) -> re.Pattern[str] | None:
    """What an answer sentence should contain, judging by the question word.

    >>> expected_pattern("When did the USMCA enter into force?") is _DATE
    True
    >>> expected_pattern("Explain Article 2205.") is None
    True
    >>> bool(expected_pattern("On what date did it start?").search("in early 2024"))
    False
    >>> bool(expected_pattern("What tariff rate applies?").search("seven percent"))
    True
    >>> bool(expected_pattern("How often does it meet?").search("It meets annually."))
    True
    >>> expected_pattern("What tariff rates followed from the order?") is _PERCENT
    True
    >>> expected_pattern("What is the dollar threshold for coverage?") is _MONEY
    True
    >>> [bool(_MONEY.search(t)) for t in ("C$30 billion", "$250,000", "25 percent on billion")]
    [True, True, False]
    >>> expected_pattern("What did the two leaders agree at the meeting?") is _OUTCOME
    True
    >>> [bool(_OUTCOME.search(t)) for t in ("They are expected to sign a pact.", "It was signed.")]
    [False, True]
    >>> bool(_OUTCOME.search("Signed: 30 November 2018"))
    False
    >>> expected_pattern("When a Party expropriates, how is compensation set?") is _DATE
    False
    >>> expected_pattern("What share did cars have to reach by 2002?") is _PERCENT
    True
    """
    for asks, pattern in _ASKS:
        if asks.search(question):
            return pattern
    return None


def asked_in(wanted: re.Pattern[str] | None, question: str) -> set[str]:
    """What the question itself states of the kind it asks for ("in 2024" of "On what date
    in 2024 ...?"): a sentence repeating it does not answer. An outcome is exempt: "what
    did they agree?" is answered by "the Parties agree"."""
    if wanted is None or wanted is _OUTCOME:
        return set()
    return {m.group(0).lower() for m in wanted.finditer(question)}


def holds_kind(wanted: re.Pattern[str] | None, own: set[str], text: str) -> bool:
    """Whether ``text`` holds the kind of answer ``wanted`` beyond the question's ``own``."""
    return wanted is not None and any(m.group(0).lower() not in own for m in wanted.finditer(text))


@dataclass
class ScoredSentence:
    passage: int  # index into the passage list it was scored with
    sentence: Sentence
    cosine: float
    lexical: float
    score: float
    embedding: np.ndarray
    holds_kind: bool = False  # the kind of answer asked for, beyond what the question states
    named: float = 0.0  # what the document's name adds to the score (see ``judged``)
    reworded: float | None = None  # cosine to the question in the documents' own terms

    @property
    def meaning(self) -> float:
        """The closer of the two cosines: to the question as asked, and to the question
        with its everyday phrases in the documents' terms (``glossary.in_document_terms``)."""
        return self.cosine if self.reworded is None else max(self.cosine, self.reworded)

    @property
    def judged(self) -> float:
        """The score refusal judges by: holding the asked kind counts ``KIND_EVIDENCE``,
        not the full ``KIND_BONUS`` that orders the answer (the kind check must not pass
        on its own boost, nor a weaker sentence become the evidence by it), and meaning is
        the closer cosine (``meaning``): a paraphrase in everyday words is not refused for
        them. The answer's order keeps the plain cosine (ordering by ``meaning`` too was
        measured: no better)."""
        return (
            self.score
            - (KIND_BONUS - KIND_EVIDENCE) * self.holds_kind
            - self.named
            + 0.6 * (self.meaning - self.cosine)
        )


# A sentence holding the kind of answer asked for (a date for "when", a number for "how
# many") beyond what the question states moves up the answer by KIND_BONUS; for refusal
# it counts KIND_EVIDENCE (see ``ScoredSentence.judged``).
KIND_BONUS = 0.10
KIND_EVIDENCE = 0.05


class SentenceBank:
    """Sentences and their embeddings per chunk id, computed once (LRU-bounded)."""

    def __init__(self, encoder: Encoder, max_chunks: int = 4000):
        self.encoder = encoder
        self.max_chunks = max_chunks
        self._data: OrderedDict[str, tuple[list[Sentence], np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, passages: list[Passage]) -> list[tuple[list[Sentence], np.ndarray]]:
        with self._lock:
            missing = [p for p in passages if p.id not in self._data]
        todo: list[tuple[Passage, list[Sentence]]] = []
        texts: list[str] = []
        for p in dict((p.id, p) for p in missing).values():
            # A "Sources" section names documents; it is never quoted.
            sents = [
                s
                for s in ([] if is_reference_section(p) else sentences(p.text))
                if _usable(s.text) and not _title_line(s, p) and not _run_in_heading(s, p.text)
            ]
            todo.append((p, sents))
            texts.extend(s.text for s in sents)
        embs = np.asarray(self.encoder.embed(texts), dtype=np.float32) if texts else None
        pos = 0
        with self._lock:
            for p, sents in todo:
                n = len(sents)
                block = embs[pos : pos + n] if embs is not None else np.zeros((0, 1), np.float32)
                pos += n
                self._data[p.id] = (sents, block)
            out = []
            for p in passages:
                self._data.move_to_end(p.id)
                out.append(self._data[p.id])
            while len(self._data) > self.max_chunks:
                self._data.popitem(last=False)
        return out

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


# How a statement ends; a line without it is a heading or a label.
_CLOSED = re.compile(r"[.!?;:,)”\"]\s*$")
# A sentence that is all one quotation is a cited headline in a reference list.
_QUOTED_TITLE = re.compile(r'^\s*["“][^"“”]+["”]\s*[.!?]?\s*$')


def _usable(text: str) -> bool:
    """A sentence worth quoting: not a heading, a table rule or a fragment.

    >>> _usable("In 1952, Mexico opened its first consulate-general in Montreal.[1]")
    True
    >>> _usable("(b) Civil penalty"), _usable("(1) $250,000; or")
    (False, False)
    >>> _usable('"New North American trade deal to come into effect in July".')
    False
    >>> _usable("Executive Order 14193 of February 1, 2025"), _usable("Friday, February 7, 2025")
    (True, False)
    """
    text = FOOTNOTE.sub("", text)  # "... in Montreal.[1]"
    words = len(text.split())
    if words < 4 or text.lstrip().startswith(("|", "#")) or _QUOTED_TITLE.match(text):
        return False
    if dated_name(text):
        return True  # quoted only for a question that asks when (see score_sentences)
    if _HEADING_LINE.match(text) and words < 14:
        return False
    # A short line without closing punctuation is a heading ("(a) In general").
    return not (words < 12 and not _CLOSED.search(text))


def dated_name(text: str) -> bool:
    """A line that names an act by its number and dates it, without closing punctuation: it
    says when the act was made, and nothing else.

    >>> dated_name("Executive Order 14193 of February 1, 2025")
    True
    >>> dated_name("The order was signed on February 1, 2025."), dated_name("Article 2205")
    (False, False)
    """
    return (
        len(text.split()) < 14
        and not _CLOSED.search(text)
        and bool(identifiers(text))
        and bool(_DAY_DATE.search(text))
    )


def _run_in_heading(s: Sentence, text: str) -> bool:
    """A short bold lead at the start of a paragraph, run into its body on the same line
    ("Auto-sector distrust in Ontario. In parts of Canada, ..."): a label, not a statement.

    >>> text = "Auto-sector distrust in Ontario. In parts of Canada, Mexico is viewed warily."
    >>> [_run_in_heading(x, text) for x in sentences(text)]
    [True, False]
    """
    starts_paragraph = s.start == 0 or text[: s.start].rstrip(" \t").endswith("\n")
    runs_on = s.end < len(text) and text[s.end : s.end + 1] in (" ", "\t")
    return starts_paragraph and runs_on and len(s.text.split()) <= 6


def _title_line(s: Sentence, p: Passage) -> bool:
    """The document's title line at the top of its first passage: a name, not an answer."""
    title = (p.meta.title if p.meta is not None else "").rstrip("…. ")
    return s.start == 0 and len(title) >= 20 and s.text.startswith(title)


def score_sentences(
    question: str,
    passages: list[Passage],
    bank: SentenceBank,
    q_emb: np.ndarray,
    bm25: BM25Index | None,
    reworded_emb: np.ndarray | None = None,
) -> list[ScoredSentence]:
    """Every usable sentence of ``passages``, scored against ``question`` (and, for its
    meaning, against ``reworded_emb``, the embedding of the question in the documents'
    terms, when it has everyday phrases)."""
    weights = term_weights(question, bm25)
    why = is_why(question)
    wanted = expected_pattern(question)
    own = asked_in(wanted, question)
    asks_when = wanted is _DATE or wanted is _DAY_DATE
    out: list[ScoredSentence] = []
    for pi, (sents, embs) in enumerate(bank.get(passages)):
        if not sents:
            continue
        # The section a sentence sits in speaks for it ("Why relations reached a low point").
        heading = _section_terms(passages[pi])
        head_lex = term_share(weights, heading)
        # The document's own name is every sentence's context: "Executive Order 14193" need
        # not be repeated in the order's sentences to be what they speak of.
        named = _document_terms(passages[pi])
        cos = embs @ q_emb
        alt = embs @ reworded_emb if reworded_emb is not None else [None] * len(sents)
        for s, c, a, e in zip(sents, cos, alt, embs, strict=True):
            if not asks_when and dated_name(s.text):
                continue  # "Executive Order 14193 of February 1, 2025" answers only "when"
            own_terms = set(terms(s.text))
            lex = term_share(weights, own_terms)
            named_lex = term_share(weights, own_terms | named) - lex
            score = 0.6 * float(c) + 0.4 * (lex + named_lex) + 0.15 * head_lex
            if why and _CAUSAL.search(s.text):
                score += 0.08
            kind = holds_kind(wanted, own, s.text)
            if kind:
                score += KIND_BONUS
            out.append(
                ScoredSentence(
                    pi,
                    s,
                    float(c),
                    lex,
                    score,
                    e,
                    kind,
                    0.4 * named_lex,
                    None if a is None else float(a),
                )
            )
    return out


_REFERENCES = re.compile(
    r"^(sources?|references?|bibliography|further reading|notes|"
    r"external links|see also|citations?)\b",
    re.I,
)


def is_reference_section(p: Passage) -> bool:
    """A bibliography or "Sources" section: it names documents, it does not answer."""
    return bool(
        p.meta is not None
        and p.meta.section_heading
        and _REFERENCES.match(p.meta.section_heading.strip("# "))
    )


def _section_terms(p: Passage) -> set[str]:
    if p.meta is None:
        return set()
    parts = p.meta.heading_path.split(" > ")[1:]  # the document title is not a section
    return set(terms(" ".join(parts)))


def _document_terms(p: Passage) -> set[str]:
    if p.meta is None:
        return set()
    return set(terms(p.meta.title)) | set(path_terms(p.meta.source))


class TermWeights(dict[str, float]):
    """The question's terms with their weights, and for a term inside a lay phrase the
    documents' own terms for it (``glossary.related_terms``): any of those counts as the
    term being present."""

    def __init__(self, weights: dict[str, float], related: dict[str, frozenset[str]]):
        super().__init__(weights)
        self.related = related


def term_weights(question: str, bm25: BM25Index | None) -> TermWeights:
    """The question's terms, each weighted by its rarity in the index (IDF)."""
    weights = {t: (bm25.idf_of(t) if bm25 is not None else 1.0) for t in set(terms(question))}
    return TermWeights(weights, related_terms(question))


def term_share(q_weights: dict[str, float], present: set[str]) -> float:
    """Rarity-weighted share of the question's terms that are in ``present`` (directly, or
    through a related term when ``q_weights`` is a ``TermWeights``).

    >>> term_share({"tariff": 3.0, "steel": 1.0}, {"steel", "duty"})
    0.25
    >>> term_share(term_weights("walk away", None), {"withdraw"})
    1.0
    """
    total = sum(q_weights.values()) or 1.0
    related = getattr(q_weights, "related", {})
    return (
        sum(
            w
            for t, w in q_weights.items()
            if t in present or (t in related and not related[t].isdisjoint(present))
        )
        / total
    )


def lexical_sentence_score(q_weights: dict[str, float], text: str) -> float:
    """Best rarity-weighted share of the question's terms found in one sentence of ``text``."""
    return max((term_share(q_weights, set(terms(s.text))) for s in sentences(text)), default=0.0)


def rerank(
    question: str,
    candidates: list[Passage],
    bank: SentenceBank,
    q_emb: np.ndarray,
    bm25: BM25Index | None,
    top_k: int,
    mmr_lambda: float,
    max_per_source: int,
    embed_top: int = 4,
    weak_lexical: float = 0.35,
    heading_weight: float = 0.25,
    reworded_emb: np.ndarray | None = None,
) -> tuple[list[Passage], list[ScoredSentence]]:
    """Re-score candidates (fused rank, passage cosine, best sentence's term overlap), pick
    ``top_k`` by MMR, then score the sentences of the first ``embed_top`` with the encoder.
    When no candidate's best sentence holds ``weak_lexical`` of the question's (IDF-weighted)
    terms, the passage cosine carries most of the weight. The passage's heading path (below
    the document title) adds ``heading_weight`` times its own share of those terms to the
    overlap.

    ``reworded_emb`` (the question in the documents' terms) goes to the sentence scores,
    for refusal (``ScoredSentence.meaning``); passages are ranked by the question as asked.

    Embedding sentences is the expensive step, so it is done only where answers come from.
    Returns the passages and their scored sentences (``passage`` indexes the returned list).
    """
    if not candidates:
        return [], []
    weights = term_weights(question, bm25)
    cos = [float(p.embedding @ q_emb) if p.embedding is not None else 0.0 for p in candidates]
    lex = [
        lexical_sentence_score(weights, p.text)
        + heading_weight * term_share(weights, _section_terms(p))
        for p in candidates
    ]
    top_cos = max(max(cos), 1e-6)
    top_lex = max(max(lex), 1e-6)
    # No passage has a sentence with much of the question's wording: the question
    # paraphrases its source ("a shipper who vouched" for "an exporter that signed a
    # certificate"), so word overlap, in the fused rank too, is noise; meaning decides.
    wf, wc, wl = (0.3, 0.4, 0.3) if top_lex >= weak_lexical else (0.1, 0.8, 0.1)
    for p, c, lx in zip(candidates, cos, lex, strict=True):
        p.score = wf * p.score + wc * (c / top_cos) + wl * (lx / top_lex)
        if is_reference_section(p):
            p.score *= 0.5
    chosen = mmr(sorted(candidates, key=lambda p: -p.score), top_k, mmr_lambda, max_per_source)
    return chosen, score_sentences(
        question, chosen[:embed_top], bank, q_emb, bm25, reworded_emb=reworded_emb
    )
