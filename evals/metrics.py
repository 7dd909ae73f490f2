"""Evaluation metrics: pure functions of the system's outputs and the question set.

Every function takes what the system produced (its ranked retrieved sources, its answer
text, its citations, its refused flag, its timings) together with the reference from the
question set (expected sources, fact groups, answerability) and returns a number, or
``None`` when the metric is undefined for that question (retrieval metrics on an
unanswerable question, citation precision of an answer without citations). Averages skip
``None``, and the report always says over how many questions a mean was taken.

Nothing here reads files or calls the chain: ``evals/score.py`` feeds these functions from
``answers.jsonl`` and the corpus, so a third party can re-score the same answers.
"""

from __future__ import annotations

import math
import posixpath
import re
import unicodedata
from collections.abc import Collection, Hashable, Iterable, Sequence

# --------------------------------------------------------------------------------------------
# Text normalisation
# --------------------------------------------------------------------------------------------

# Typographic characters mapped to their plain forms before any comparison.
_TYPO = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00ad": None,
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2007": " ",
    }
)
_WS = re.compile(r"\s+")
_MARKER = re.compile(r"\[(\d{1,3})\]")


def normalize(text: str) -> str:
    """Lower-case, map typographic quotes/dashes/spaces to plain ASCII, collapse whitespace.

    >>> normalize("  The \\u201cUSMCA\\u201d \\u2014 Canada\\u2013Mexico\\n trade ")
    'the "usmca" - canada-mexico trade'
    """
    text = unicodedata.normalize("NFKC", text).translate(_TYPO)
    return _WS.sub(" ", text).strip().lower()


def strip_markers(text: str) -> str:
    """Remove ``[n]`` citation markers, so that a marker can never count as a fact.

    >>> strip_markers("It took effect on 1 July 2020 [1][2].")
    'It took effect on 1 July 2020 .'
    """
    return _WS.sub(" ", _MARKER.sub(" ", text)).strip()


def markers(text: str) -> list[int]:
    """The distinct ``[n]`` marker numbers in ``text``, in order of first appearance.

    >>> markers("A [2]. B [1][2].")
    [2, 1]
    """
    return list(dict.fromkeys(int(m) for m in _MARKER.findall(text)))


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------


def fact_covered(answer: str, group: Iterable[str]) -> bool:
    """True when the answer contains any alternative of the group (case-insensitive, after
    ``normalize``; citation markers are removed from the answer first).

    >>> fact_covered("Entered into force on 1\\u00a0July 2020 [1].", ["July 1, 2020", "1 July 2020"])
    True
    >>> fact_covered("It replaced NAFTA.", ["July 1, 2020"])
    False
    """
    text = normalize(strip_markers(answer))
    return any(normalize(alt) in text for alt in group if alt.strip())


def fact_recall(answer: str, facts: Sequence[Sequence[str]]) -> float | None:
    """Share of fact groups the answer covers; None when the question has no facts.

    Computed on the system's answer text only, never on citations or quotes.

    >>> fact_recall("English and French are authentic.", [["English"], ["French"], ["Spanish"]])
    0.6666666666666666
    >>> fact_recall("I could not find this in the documents.", [["1944"]])
    0.0
    >>> fact_recall("anything", []) is None
    True
    """
    if not facts:
        return None
    return sum(fact_covered(answer, g) for g in facts) / len(facts)


# --------------------------------------------------------------------------------------------
# Sources and ranking
# --------------------------------------------------------------------------------------------


def _clean_path(path: str) -> str:
    path = path.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def source_matches(got: str, expected: str) -> bool:
    """True when a system source (path relative to the ingested root) is the expected one.

    An expected source matches the same relative path, a path ending in ``/expected``
    (the corpus was ingested from a parent folder), or, when it is a bare file name, any
    path with that base name.

    >>> source_matches("articles/nyt.html", "articles/nyt.html")
    True
    >>> source_matches("articles/nyt.html", "nyt.html")
    True
    >>> source_matches("corpus/articles/nyt.html", "articles/nyt.html")
    True
    >>> source_matches("articles/nyt2.html", "nyt.html")
    False
    """
    got, expected = _clean_path(got), _clean_path(expected)
    if got == expected or got.endswith("/" + expected):
        return True
    return "/" not in expected and posixpath.basename(got) == expected


def match_source(got: str, expected: Sequence[str]) -> str | None:
    """The expected source that ``got`` matches, or None.

    >>> match_source("agreements/ch20.pdf", ["ch21.txt", "ch20.pdf"])
    'ch20.pdf'
    >>> match_source("other.txt", ["ch20.pdf"]) is None
    True
    """
    for exp in expected:
        if source_matches(got, exp):
            return exp
    return None


def page_key(source: str, page: int) -> str:
    """The key of one page of a paged source, for page-level ranking metrics.

    >>> page_key("ch20.pdf", 3)
    'ch20.pdf#p3'
    """
    return f"{source}#p{page}"


def hit_at_k(
    ranked: Sequence[Hashable | None], relevant: Collection[Hashable], k: int
) -> float | None:
    """1.0 when any of the first ``k`` ranked items is relevant, else 0.0; None when nothing
    is relevant (an unanswerable question). ``None`` items are never relevant.

    >>> hit_at_k(["a", "b", "c"], {"c"}, 2), hit_at_k(["a", "b", "c"], {"c"}, 3)
    (0.0, 1.0)
    >>> hit_at_k(["a"], set(), 5) is None
    True
    """
    if not relevant:
        return None
    return 1.0 if any(x is not None and x in relevant for x in ranked[:k]) else 0.0


def recall_at_k(
    ranked: Sequence[Hashable | None], relevant: Collection[Hashable], k: int
) -> float | None:
    """Share of the distinct relevant items found among the first ``k`` ranked items.

    >>> recall_at_k(["a", "a", "b"], {"a", "c"}, 5)
    0.5
    >>> recall_at_k(["x", "a", "c"], {"a", "c"}, 2)
    0.5
    """
    if not relevant:
        return None
    found = {x for x in ranked[:k] if x is not None and x in relevant}
    return len(found) / len(set(relevant))


def reciprocal_rank(
    ranked: Sequence[Hashable | None], relevant: Collection[Hashable]
) -> float | None:
    """1 / rank of the first relevant item (ranks start at 1); 0.0 when none is relevant.

    >>> reciprocal_rank(["x", "y", "a"], {"a"})
    0.3333333333333333
    >>> reciprocal_rank(["x"], {"a"})
    0.0
    """
    if not relevant:
        return None
    for rank, x in enumerate(ranked, start=1):
        if x is not None and x in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(
    ranked: Sequence[Hashable | None], relevant: Collection[Hashable], k: int = 10
) -> float | None:
    """Normalised discounted cumulative gain with binary relevance.

    Only the first passage of each relevant item earns a gain (a second passage from the
    same document adds nothing), and the ideal ranking puts ``min(|relevant|, k)`` relevant
    items first, so the value lies in [0, 1].

    >>> ndcg_at_k(["a", "b"], {"a", "b"})
    1.0
    >>> round(ndcg_at_k(["x", "a"], {"a"}), 4)
    0.6309
    >>> ndcg_at_k(["a", "a", "a"], {"a", "b"}) < 1.0
    True
    """
    if not relevant:
        return None
    seen: set[Hashable] = set()
    dcg = 0.0
    for i, x in enumerate(ranked[:k]):
        if x is not None and x in relevant and x not in seen:
            seen.add(x)
            dcg += 1.0 / math.log2(i + 2)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(set(relevant)), k)))
    return dcg / ideal


# --------------------------------------------------------------------------------------------
# Citations
# --------------------------------------------------------------------------------------------

# Function words ignored when comparing a sentence with its quote (deliberately a separate
# list from the chain's own, so the metric does not share the system's blind spots).
STOPWORDS = frozenset(
    """
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers him his how i if in into is it its itself just
may me might more most must my no nor not of off on once only or other our out over own
same shall she should so some such than that the their them then there these they this
those through to too under until up upon very was we were what when where which while who
whom why will with within would you your
""".split()
)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+")

# A citation is relevant to its sentence when its quote contains at least this share of the
# sentence's content words (divided by the number of markers the sentence carries).
RELEVANCE_MIN = 0.5


def _stem(word: str) -> str:
    if len(word) <= 3 or word[0].isdigit():
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased, lightly stemmed words of ``text`` without function words or markers.

    >>> sorted(content_words("The tariffs were imposed on 4 March 2025 [1]."))
    ['2025', '4', 'impos', 'march', 'tariff']
    """
    text = normalize(strip_markers(text)).replace("'s ", " ").replace("u.s.", "us")
    return {_stem(t) for t in _TOKEN.findall(text) if t not in STOPWORDS}


def relevance(sentence: str, quote: str) -> float | None:
    """Share of the sentence's content words that also occur in the quote (0-1); None for a
    sentence without content words.

    >>> relevance("The USMCA entered into force on 1 July 2020 [1].",
    ...           "The Agreement entered into force on July 1, 2020.")
    0.8333333333333334
    >>> relevance("Mexico imposed retaliatory tariffs.", "The Panel shall consist of five members.")
    0.0
    """
    words = content_words(sentence)
    if not words:
        return None
    return len(words & content_words(quote)) / len(words)


_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|\u2026)\s*")


def quote_in_document(
    quote: str, document: str, start: int | None = None, end: int | None = None
) -> bool:
    """True when the quote really occurs in the document text.

    The exact span ``document[start:end]`` is accepted first; otherwise the quote must occur
    after ``normalize`` (whitespace, typographic quotes/dashes, case). A quote elided with
    "..." or "\u2026" must have every fragment occur, in order. An empty quote never occurs.

    >>> doc = "Article 2205: Withdrawal\\nA Party may withdraw from this Agreement six months after"
    >>> quote_in_document("A Party may withdraw", doc, 25, 45)
    True
    >>> quote_in_document("a party  may WITHDRAW from this agreement", doc)
    True
    >>> quote_in_document("Article 2205 ... six months after", doc)
    True
    >>> quote_in_document("A Party must withdraw", doc)
    False
    >>> quote_in_document("   ", doc)
    False
    """
    if not quote.strip():
        return False
    if start is not None and end is not None and 0 <= start < end <= len(document):
        if document[start:end] == quote:
            return True
    text = normalize(document)
    pos = 0
    for fragment in _ELLIPSIS.split(quote):
        fragment = normalize(fragment)
        if not fragment:
            continue
        found = text.find(fragment, pos)
        if found < 0:
            return False
        pos = found + len(fragment)
    return pos > 0


def span_exact(quote: str, document: str, start: int, end: int) -> bool:
    """True when ``document[start:end]`` is exactly the quote (the UI highlights this span).

    >>> span_exact("may", "A Party may withdraw", 8, 11), span_exact("may", "A Party may", 0, 3)
    (True, False)
    """
    return 0 <= start < end <= len(document) and document[start:end] == quote


# Abbreviations after which a full stop does not end a sentence.
_ABBREV = re.compile(
    r"(?:\b(?:[A-Za-z]\.){2,}|\b(?:art|arts|sec|secs|no|nos|para|paras|ch|chap|p|pp|vol|"
    r"e\.g|i\.e|etc|cf|vs|mr|mrs|ms|dr|st|jr|inc|ltd|co|corp|jan|feb|mar|apr|jun|jul|aug|"
    r"sep|sept|oct|nov|dec|u\.s|u\.s\.c|c|subsec|cl)\.)$",
    re.I,
)
_END = re.compile(r"[.!?][\"')\]\u201d\u2019]*((?:\s*\[\d{1,3}\])*)(?=\s|$)")


_BLOCK_START = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)]|#{1,6})\s")


def _lines(text: str) -> list[str]:
    """Blocks of text: a blank line, a list item or a heading starts a new one; any other
    line break is a wrapped line (PDF text) and joins the previous line."""
    out: list[str] = []
    joining = False
    for line in text.splitlines():
        if not line.strip():
            joining = False
            continue
        if joining and not _BLOCK_START.match(line):
            out[-1] = out[-1] + " " + line.strip()
        else:
            out.append(line.strip())
        joining = True
    return out


def split_sentences(text: str) -> list[str]:
    """Split an answer into sentences, keeping the ``[n]`` markers that follow a full stop
    with the sentence before them. Blank lines, list items and headings start a new
    sentence, a wrapped line does not; common abbreviations ("U.S.", "Art.", "No.") do not
    end one. Pieces without a letter or digit are dropped.

    >>> split_sentences("The U.S. imposed tariffs [1]. Canada replied. [2] Then:\\n- a list item")
    ['The U.S. imposed tariffs [1].', 'Canada replied. [2]', 'Then:', '- a list item']
    >>> split_sentences("A vehicle needs 75 percent\\nregional value content [1].\\n\\n[2]")
    ['A vehicle needs 75 percent regional value content [1].']
    """
    out: list[str] = []
    for line in _lines(text):
        start = 0
        for m in _END.finditer(line):
            head = line[start : m.start() + 1].split()
            if m.group(0).startswith(".") and head and _ABBREV.search(head[-1]):
                continue
            out.append(line[start : m.end()].strip())
            start = m.end()
        out.append(line[start:].strip())
    return [s for s in out if re.search(r"[^\W_]", strip_markers(s))]


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def numbers(text: str) -> set[str]:
    """The numbers written in digits in ``text`` (markers excluded), thousands separators
    dropped.

    >>> sorted(numbers("US$16 per hour, 62.5 percent, 1,000 cars [2]"))
    ['1000', '16', '62.5']
    """
    return {n.replace(",", "") for n in _NUMBER.findall(strip_markers(normalize(text)))}


def supported_markers(
    answer: str, citations: Sequence[dict], occurs: dict[int, bool]
) -> dict[int, float | None]:
    """For each citation ``n``: its best relevance over the answer sentences carrying
    ``[n]``, or None when its quote does not occur in the document or no sentence cites it.

    ``occurs[n]`` says whether citation n's quote really occurs in its document (see
    ``quote_in_document``). Relevance is ``relevance(sentence, quote)`` times the number m
    of markers in the sentence (capped at 1: each quote need support only its share of the
    sentence), and 0 when the sentence states a number (in digits) that none of its
    genuine quotes contains: a citation must back the figures it stands next to.

    >>> cits = [{"n": 1, "quote": "NAFTA entered into force on January 1, 1994."}]
    >>> supported_markers("NAFTA entered into force on January 1, 1994 [1].", cits, {1: True})
    {1: 1.0}
    >>> supported_markers("NAFTA entered into force on January 1, 1995 [1].", cits, {1: True})
    {1: 0.0}
    >>> supported_markers("NAFTA entered into force in 1994 [1].", cits, {1: False})
    {1: None}
    """
    best: dict[int, float | None] = {int(c["n"]): None for c in citations}
    quotes = {int(c["n"]): c.get("quote") or "" for c in citations}
    for sentence in split_sentences(answer):
        ns = [n for n in markers(sentence) if n in quotes]
        genuine = [n for n in ns if occurs.get(n)]
        backed = numbers(sentence) <= set().union(*(numbers(quotes[n]) for n in genuine))
        for n in genuine:
            rel = relevance(sentence, quotes[n])
            if rel is None:
                continue
            rel = min(1.0, rel * len(ns)) if backed else 0.0
            if best[n] is None or rel > best[n]:
                best[n] = rel
    return best


def citation_supported(rel: float | None) -> bool:
    """A citation is supported when its quote occurs in the document and its relevance to
    a sentence carrying it reaches RELEVANCE_MIN.

    >>> citation_supported(0.8), citation_supported(0.2), citation_supported(None)
    (True, False, False)
    """
    return rel is not None and rel >= RELEVANCE_MIN


def sentence_support_share(answer: str, supported_ns: Collection[int]) -> float | None:
    """Share of the answer's sentences that carry at least one supported citation marker;
    None for an empty answer.

    >>> sentence_support_share("Fact one [1]. Fact two [2]. Unsourced claim.", {1})
    0.3333333333333333
    >>> sentence_support_share("", {1}) is None
    True
    """
    sentences = split_sentences(answer)
    if not sentences:
        return None
    good = sum(1 for s in sentences if any(n in supported_ns for n in markers(s)))
    return good / len(sentences)


def citation_precision(cited_sources: Sequence[str], expected: Sequence[str]) -> float | None:
    """Share of citations whose source is among the expected sources; None without
    citations or without expected sources. A lower bound: the question set lists the
    sources that support the answer, and another document may say the same thing.

    >>> citation_precision(["a/x.txt", "b/y.txt", "a/x.txt"], ["x.txt"])
    0.6666666666666666
    >>> citation_precision([], ["x.txt"]) is None
    True
    """
    if not cited_sources or not expected:
        return None
    return sum(match_source(s, expected) is not None for s in cited_sources) / len(cited_sources)


# --------------------------------------------------------------------------------------------
# Refusals and aggregates
# --------------------------------------------------------------------------------------------


def refusal_metrics(pairs: Iterable[tuple[bool, bool]]) -> dict[str, float | None]:
    """Refusal quality from ``(answerable, refused)`` pairs, one per question.

    * refusal_accuracy: share of questions whose refused flag is right (refused exactly
      when unanswerable);
    * refusal_precision: of the refused questions, the share that were unanswerable;
    * refusal_recall: of the unanswerable questions, the share refused;
    * false_refusal_rate: of the answerable questions, the share refused;
    * refusal_balanced_accuracy: the mean of refusal_recall and 1 - false_refusal_rate, so
      that both classes weigh the same: always or never refusing scores 0.5, whatever the
      share of unanswerable questions (refusal_accuracy rewards never refusing when most
      questions are answerable).

    A ratio with an empty denominator is None.

    >>> refusal_metrics([(True, False), (True, True), (False, True), (False, False)])["refusal_accuracy"]
    0.5
    >>> never = refusal_metrics([(True, False)] * 9 + [(False, False)])
    >>> never["refusal_accuracy"], never["refusal_balanced_accuracy"], never["refusal_precision"]
    (0.9, 0.5, None)
    """
    pairs = list(pairs)
    tp = sum(1 for a, r in pairs if not a and r)
    refused = sum(1 for _, r in pairs if r)
    unanswerable = sum(1 for a, _ in pairs if not a)
    answerable = len(pairs) - unanswerable
    false_ref = sum(1 for a, r in pairs if a and r)
    correct = sum(1 for a, r in pairs if r == (not a))

    def ratio(num: int, den: int) -> float | None:
        return num / den if den else None

    recall, frr = ratio(tp, unanswerable), ratio(false_ref, answerable)
    return {
        "refusal_accuracy": ratio(correct, len(pairs)),
        "refusal_precision": ratio(tp, refused),
        "refusal_recall": recall,
        "false_refusal_rate": frr,
        "refusal_balanced_accuracy": (
            None if recall is None or frr is None else (recall + 1 - frr) / 2
        ),
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between order statistics
    (numpy's default); None for no values.

    >>> percentile([10, 20, 30, 40], 50), percentile([10, 20, 30, 40], 95)
    (25.0, 38.5)
    >>> percentile([], 50) is None
    True
    """
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none.

    >>> mean([1.0, None, 0.0]), mean([None]) is None
    (0.5, True)
    """
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None
