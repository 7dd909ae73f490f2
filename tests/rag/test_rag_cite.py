"""rag/cite.py: parsing [n] markers and verifying citations against two tiny real
documents, with the real encoder (no index needed: passages are document slices)."""

from __future__ import annotations

import re

import pytest
from rag_support import make_chunk

from rag.cite import CitationChecker, split_marked, verify
from rag.rerank import SentenceBank
from rag.retrieve import Passage

FEES = (
    "# Port fees notice\n\nIssued by the Harbour Board in 2025.\n\n"
    "The Harbour Board set the container port fee at 41 dollars per box from 1 March 2025. "
    "Fees for empty containers stay at 12 dollars per box. "
    "The notice replaces the 2019 schedule.\n"
)
QUOTA = (
    "# Quota licences\n\n"
    "Softwood lumber quota licences are issued every quarter by the trade ministry. "
    "An exporter must apply at least ten days before shipping. "
    "Licences cannot be transferred between exporters.\n"
)
DOCS = {"notices/port_fees.md": FEES, "quota.md": QUOTA}

FEE_SENTENCE = (
    "The Harbour Board set the container port fee at 41 dollars per box from 1 March 2025."
)
QUOTA_SENTENCE = "An exporter must apply at least ten days before shipping."
OFF_TOPIC = "Emperor penguins huddle together to survive the Antarctic winter."


def _passage(pid: str, source: str, first_words: str) -> Passage:
    doc = DOCS[source]
    start = doc.index(first_words)
    text = doc[start:].rstrip()
    chunk = make_chunk(pid, text, source=source, start=start, heading=source)
    return Passage(pid, text, chunk.meta, 1.0)


@pytest.fixture(scope="module")
def passages() -> list[Passage]:
    """[1] = the fee paragraph, [2] = the quota paragraph."""
    return [
        _passage("fees", "notices/port_fees.md", "The Harbour Board set"),
        _passage("quota", "quota.md", "Softwood lumber"),
    ]


@pytest.fixture(scope="module")
def checker(encoder, passages) -> CitationChecker:
    return CitationChecker(encoder, passages, SentenceBank(encoder))


def check(answer: str, passages, checker, documents=DOCS):
    return verify(answer, passages, checker, documents.get)


def markers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d+)\]", text)]


def assert_quotes_are_document_spans(citations, documents=DOCS):
    for c in citations:
        assert documents[c.source][c.start : c.end] == c.quote, c


# --- split_marked -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            "Tariffs rose [1]. Canada hit back [2, 3].",
            [("Tariffs rose.", [1]), ("Canada hit back.", [2, 3])],
        ),
        ("Tariffs rose [1][2].", [("Tariffs rose.", [1, 2])]),
        (
            "Tariffs rose. [1] Canada hit back. [2]",
            [("Tariffs rose.", [1]), ("Canada hit back.", [2])],
        ),
        (
            "Tariffs rose.[1] Canada hit back.[2][3]",
            [("Tariffs rose.", [1]), ("Canada hit back.", [2, 3])],
        ),
        ("The U.S. [1] raised tariffs.", [("The U.S. raised tariffs.", [1])]),
        # the extractive answerer's list items: each keeps its own marker
        (
            "- the President must consult [1]. - **25%** on goods [2]. (a) a clause [3].",
            [
                ("- the President must consult.", [1]),
                ("- **25%** on goods.", [2]),
                ("(a) a clause.", [3]),
            ],
        ),
        (
            "Under Article 2205 [4] a Party may leave.",
            [("Under Article 2205 a Party may leave.", [4])],
        ),
        (
            "No markers at all. None here either.",
            [("No markers at all.", []), ("None here either.", [])],
        ),
        (
            "A list [x] and a year [2025 ] are not markers.",
            [("A list [x] and a year [2025 ] are not markers.", [])],
        ),
        ("", []),
    ],
)
def test_split_marked(answer, expected):
    assert split_marked(answer) == expected


# --- verify -----------------------------------------------------------------------------------
def test_a_supported_citation_is_kept_with_its_exact_quote(passages, checker):
    text, citations, share = check(f"{FEE_SENTENCE[:-1]} [1].", passages, checker)
    assert text == f"{FEE_SENTENCE[:-1]} [1]."
    assert share == 1.0
    [c] = citations
    assert (c.n, c.source, c.quote) == (1, "notices/port_fees.md", FEE_SENTENCE)
    assert c.start == FEES.index(FEE_SENTENCE) and c.end == c.start + len(FEE_SENTENCE)
    assert 0.55 <= c.score <= 1.0
    assert c.title == "port_fees.md" and c.page is None


def test_a_paraphrase_is_supported_by_the_sentence_it_restates(passages, checker):
    _, citations, _ = check(
        "Exporters have to apply at least ten days before they ship [2].", passages, checker
    )
    assert [(c.source, c.quote) for c in citations] == [("quota.md", QUOTA_SENTENCE)]
    assert_quotes_are_document_spans(citations)


def test_a_marker_to_a_passage_that_does_not_support_it_is_re_pointed(passages, checker):
    text, citations, _ = check(f"{QUOTA_SENTENCE[:-1]} [1].", passages, checker)
    assert [(c.n, c.source) for c in citations] == [(1, "quota.md")]
    assert markers(text) == [1]
    assert_quotes_are_document_spans(citations)


def test_a_marker_to_no_passage_is_dropped(passages, checker):
    text, citations, share = check(f"{OFF_TOPIC[:-1]} [9].", passages, checker)
    assert citations == [] and markers(text) == [] and share == 0.0
    assert text == OFF_TOPIC


def test_a_marker_to_no_passage_on_a_supported_sentence_is_repaired(passages, checker):
    text, citations, _ = check(f"{FEE_SENTENCE[:-1]} [9].", passages, checker)
    assert markers(text) == [1]
    assert [c.source for c in citations] == ["notices/port_fees.md"]


def test_an_unsupported_sentence_loses_its_marker_and_others_keep_theirs(passages, checker):
    answer = f"{OFF_TOPIC[:-1]} [1]. {QUOTA_SENTENCE[:-1]} [2]. Fees stay at 12 dollars [3]."
    text, citations, share = check(answer, passages, checker)
    assert text.startswith(OFF_TOPIC + " ")
    assert markers(text) == [1, 2]
    assert [c.source for c in citations] == ["quota.md", "notices/port_fees.md"]
    assert share == pytest.approx(2 / 3)
    assert_quotes_are_document_spans(citations)


def test_markers_are_renumbered_in_order_of_appearance_and_shared_quotes_merged(passages, checker):
    answer = (
        f"{QUOTA_SENTENCE[:-1]} [2]. {FEE_SENTENCE[:-1]} [1]. "
        f"Exporters must apply ten days before shipping [2]."
    )
    text, citations, _ = check(answer, passages, checker)
    assert markers(text) == [1, 2, 1]
    assert [(c.n, c.source) for c in citations] == [(1, "quota.md"), (2, "notices/port_fees.md")]


def test_two_markers_on_one_sentence_citing_the_same_quote_become_one(passages, checker):
    text, citations, _ = check(f"{FEE_SENTENCE[:-1]} [1][9].", passages, checker)
    assert markers(text) == [1] and len(citations) == 1


def test_the_quote_span_is_found_again_when_the_document_moved(passages, checker):
    moved = {"notices/port_fees.md": "A new preface.\n\n" + FEES, "quota.md": QUOTA}
    _, citations, _ = check(f"{FEE_SENTENCE[:-1]} [1].", passages, checker, moved)
    [c] = citations
    assert c.start == moved["notices/port_fees.md"].index(FEE_SENTENCE)
    assert_quotes_are_document_spans(citations, moved)


def test_a_quote_gone_from_the_document_is_not_cited(passages, checker):
    changed = {"notices/port_fees.md": FEES.replace("41 dollars", "45 dollars"), "quota.md": QUOTA}
    text, citations, _ = check(f"{FEE_SENTENCE[:-1]} [1].", passages, checker, changed)
    assert citations == [] and markers(text) == []


def test_an_empty_answer_verifies_to_nothing(passages, checker):
    assert check("", passages, checker) == ("", [], 0.0)
