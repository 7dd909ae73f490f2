"""rag/text.py: lexical terms, identifiers and their patterns, sentences with offsets."""

from __future__ import annotations

import pytest

from rag.text import ident_regex, identifiers, sentences, stem, terms


# --- terms ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "   ", "the of and", "Why is it so?", "—–…!?"])
def test_terms_of_text_without_content_words_is_empty(text):
    assert terms(text) == []


def test_terms_keeps_stopwords_on_request():
    assert terms("The rule of origin", keep_stopwords=True) == ["the", "rul", "of", "origin"]


def test_terms_keeps_numbers_and_codes_whole():
    assert terms("Article 34.7, HS 8703.23, 25% in 1994-2020, §4611a") == [
        "articl",
        "34.7",
        "hs",
        "8703.23",
        "25",
        "1994-2020",
        "4611a",
    ]


def test_terms_stems_and_drops_possessives_of_both_apostrophes():
    assert terms("Canada’s tariffs on Mexico's cars") == ["canada", "tariff", "mexico", "car"]
    assert terms("imposed") == terms("imposing") == ["impos"]


def test_terms_splits_hyphens_and_dashes():
    assert terms("cross-border Canada–Mexico") == ["cross", "border", "canada", "mexico"]


def test_terms_normalises_dotted_abbreviations():
    assert terms("U.S.M.C.A.") == ["usmca"]
    assert terms("19 U.S.C. 4611") == ["19", "usc", "4611"]
    # "U.S." is "us", a stopword like "we": it carries no topic
    assert terms("U.S. tariffs") == ["tariff"]


def test_stem_leaves_short_words_numbers_and_latin_endings():
    assert [stem(w) for w in ["gas", "2020s", "status", "analysis", "class"]] == [
        "gas",
        "2020s",
        "status",
        "analysis",
        "class",
    ]


# --- identifiers ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What does article 2205 say?", ["Article 2205"]),
        ("ARTICLE 34.7 and Article 34.7 again", ["Article 34.7"]),
        ("Tariffs under Section 232 of the Act", ["section 232"]),
        ("What do §§ 1701 and §4611 say?", ["§ 1701", "§ 4611"]),
        ("executive order no. 14193", ["Executive Order 14193"]),
        ("Annex 31-A applies", ["Annex 31-A"]),
        ("Duty on HS 8703.23.01 cars", ["8703.23.01"]),
        ("What does 19 USC 4611 require?", ["19 U.S.C. 4611"]),
        ("What did the 2025 tariffs of 25 percent do on 4 March?", []),
        ("", []),
    ],
)
def test_identifiers_are_found_and_normalised(question, expected):
    assert identifiers(question) == expected


# --- ident_regex ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ident", "found_in", "not_in"),
    [
        (
            "Article 34.7",
            ["Under article  34.7 the", "ARTICLE\n34.7", "Article 34.7."],
            ["Article 34.71", "Article 134.7", "Article 34"],
        ),
        ("Article 2205", ["see Article 2205: Withdrawal"], ["Article 22050", "Article 220"]),
        (
            "section 232",
            ["Section 232 tariffs", "19 U.S.C. § 232", "section232"],
            ["section 2320", "Section 23"],
        ),
        ("§ 4611", ["19 U.S.C. § 4611:", "§§4611", "section 4611"], ["§ 46110", "§ 461"]),
        (
            "19 U.S.C. 4611",
            ["Under 19 U.S.C. § 4611:", "19 USC 4611", "19 u.s.c. 4611"],
            ["119 U.S.C. 4611", "19 U.S.C. § 4621", "19 U.S.C. 46110"],
        ),
        ("Executive Order 14193", ["executive order 14193 of 1 Feb"], ["Executive Order 141930"]),
        ("8703.23.01", ["heading 8703.23.01 covers"], ["8703.23.015"]),
    ],
)
def test_ident_regex_finds_the_identifier_as_written_and_nothing_longer(ident, found_in, not_in):
    pattern = ident_regex(ident)
    for text in found_in:
        assert pattern.search(text), (ident, text)
    for text in not_in:
        assert not pattern.search(text), (ident, text)


def test_every_identifier_found_in_a_question_matches_the_question():
    question = "Compare Article 2205, 19 U.S.C. § 4611, Executive Order 14193 and section 232."
    idents = identifiers(question)
    assert len(idents) == 5
    for ident in idents:
        assert ident_regex(ident).search(question), ident


# --- sentences ------------------------------------------------------------------------------
def _texts(text: str) -> list[str]:
    return [s.text for s in sentences(text)]


@pytest.mark.parametrize("text", ["", "  \n\n ", "\t"])
def test_sentences_of_blank_text_is_empty(text):
    assert sentences(text) == []


def test_sentence_offsets_index_the_passage_exactly():
    text = (
        "  The rule is in 19 U.S.C. 4611. It applies from 1 July 2020!\n\n"
        "Does it? See Art. 5 of the Act; Executive Order No. 14193 was signed.\n"
        "- first item of a list\n- second item\n(a) para a;\n(b) para b   "
    )
    found = sentences(text)
    assert len(found) == 8
    for s in found:
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip()
    starts = [s.start for s in found]
    assert starts == sorted(starts)


def test_sentences_do_not_break_after_abbreviations():
    assert _texts("The U.S. envoy met Mr. Carney. Under 19 U.S.C. 4611 it is due. Next one.") == [
        "The U.S. envoy met Mr. Carney.",
        "Under 19 U.S.C. 4611 it is due.",
        "Next one.",
    ]
    assert _texts("Executive Order No. 14193 was signed. See Art. 5 of it.") == [
        "Executive Order No. 14193 was signed.",
        "See Art. 5 of it.",
    ]


def test_sentences_split_list_items_and_paragraphs():
    text = "Intro line:\n- first item here\n- second item here\n(a) para a;\n(b) para b\n\nEnd"
    assert _texts(text) == [
        "Intro line:",
        "- first item here",
        "- second item here",
        "(a) para a;",
        "(b) para b",
        "End",
    ]


def test_a_clause_cut_off_before_its_list_takes_in_the_items_that_complete_it():
    text = (
        "(b) Civil penalty\n\nA civil penalty may be imposed in an amount not to exceed the "
        "greater of\n\n(1) $250,000; or\n\n(2) twice the amount of the transaction.\n\n"
        "(c) Criminal penalty\n\n(1) A person who willfully commits an unlawful act shall be fined."
    )
    got = _texts(text)
    assert got[1].startswith("A civil penalty") and got[1].endswith("the transaction.")
    assert "(1) $250,000; or" in got[1]
    # A heading is not a cut-off clause: its list stays apart from it.
    assert got[2:] == [
        "(c) Criminal penalty",
        "(1) A person who willfully commits an unlawful act shall be fined.",
    ]
    assert all(text[s.start : s.end] == s.text for s in sentences(text))


def test_a_pdf_paragraph_break_inside_a_clause_is_not_a_sentence_end():
    text = "for a year beginning in 2002 and thereafter,\n\n62.5 percent of the cost.\n\nNext one."
    assert _texts(text) == [
        "for a year beginning in 2002 and thereafter,\n\n62.5 percent of the cost.",
        "Next one.",
    ]


def test_sentences_keep_hard_wrapped_lines_but_cut_very_long_run_ons():
    wrapped = "A sentence that a PDF\nwrapped over\nthree lines. Then another."
    assert _texts(wrapped) == ["A sentence that a PDF\nwrapped over\nthree lines.", "Then another."]
    line = "word " * 20
    run_on = "\n".join([line.strip()] * 8)  # ~800 characters without a full stop
    cut = sentences(run_on)
    assert len(cut) == 8
    assert all(len(s.text) < 120 and run_on[s.start : s.end] == s.text for s in cut)


def test_sentence_ending_in_a_quote_or_bracket_keeps_it():
    assert _texts('He said "no." Then (it ended.) Next.') == [
        'He said "no."',
        "Then (it ended.)",
        "Next.",
    ]
