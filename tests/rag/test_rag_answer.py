"""The extractive answerer's choice of sentences: parts of a two-part question, sentences
that continue a chosen one, and the filler rule."""

from __future__ import annotations

import numpy as np

from rag.answer import extractive_answer, question_aspects
from rag.rerank import ScoredSentence
from rag.text import Sentence

TWO_PARTS = "How long is the USMCA's term, and how much notice must a party give to withdraw?"


def scored(passage: int, text: str, start: int, score: float, cosine: float = 0.5):
    emb = np.zeros(8, dtype=np.float32)
    emb[(passage * 3 + start) % 8] = 1.0  # distinct sentences, no near-duplicates
    return ScoredSentence(
        passage, Sentence(text, start, start + len(text)), cosine, 0.3, score, emb
    )


def test_each_part_of_a_two_part_question_gets_its_best_sentence(docs_pipeline, encoder):
    state = docs_pipeline.prepare({"question": TWO_PARTS})
    parts = question_aspects(TWO_PARTS)
    assert len(parts) == 2
    aspects = list(zip(parts, np.asarray(encoder.embed(parts), dtype=np.float32), strict=True))

    def draft(with_aspects: bool):
        return extractive_answer(
            TWO_PARTS,
            state.passages,
            state.scored,
            state.bm25,
            max_sentences=1,
            min_sentences=1,
            aspects=aspects if with_aspects else None,
        )

    one = draft(False).text
    both = draft(True).text
    # A single sentence answers one part; the two parts' best sentences answer both.
    assert not ("six months" in one and "16-year" in one)
    assert "six months" in both and "16-year" in both


def test_a_part_of_a_two_part_question_may_be_answered_further_down():
    lead = [scored(0, "NAFTA entered into force on January 1, 1994.", 0, 0.6)]
    later = [scored(6, "The agreement came into effect on July 1, 2020.", 0, 0.4)]
    question = "When did NAFTA start, and when did the agreement that replaced it?"
    parts = question_aspects(question)
    emb = np.zeros(8, dtype=np.float32)
    emb[later[0].embedding.argmax()] = 1.0  # the second part reads as the later sentence
    aspects = [(parts[0], lead[0].embedding), (parts[1], emb)]
    text = extractive_answer(question, [], lead, None, aspects=aspects).text
    assert "July 1, 2020" not in text  # only the lead passages were read
    text = extractive_answer(question, [], lead, None, aspects=aspects, further=later).text
    assert "January 1, 1994 [1]" in text and "July 1, 2020 [7]" in text
    # The answer's main sentences still come from the lead passages alone.
    assert extractive_answer(question, [], lead, None, further=later).text.count("[") == 1


def test_a_passage_past_the_lead_adds_its_best_sentence_only_when_it_is_as_good():
    lead = [
        scored(0, "A request for a panel shall be made in writing.", 0, 0.6),
        scored(1, "Each Party shall designate an agency.", 0, 0.5),
    ]
    deadline = "The request shall be made within 30 days following the publication."
    question = "How long does a party have to ask for a panel?"
    close = [scored(6, deadline, 0, 0.55), scored(7, "Panels may meet in private.", 0, 0.3)]
    text = extractive_answer(question, [], lead, None, max_sentences=2, further=close).text
    # Past the cap: both lead sentences stay, and the late one is cited to its passage.
    assert "in writing [1]" in text and "an agency [2]" in text
    assert "within 30 days following the publication [7]" in text
    assert "in private" not in text  # only the best one
    weak = [scored(6, deadline, 0, 0.45)]  # 0.75 of the best
    assert "30 days" not in extractive_answer(question, [], lead, None, further=weak).text


def test_a_sentence_that_continues_a_chosen_one_comes_along():
    sents = [
        scored(0, "Some in Canada have even viewed Mexico with distrust.", 0, 0.8),
        scored(
            0, "That's particularly the case in Ontario, whose car plants moved south.", 60, 0.3
        ),
        scored(0, "Trade between them is small.", 140, 0.2),
    ]
    text = extractive_answer("Why has Ontario distrusted Mexico?", [], sents, None).text
    assert "Ontario, whose car plants" in text
    assert "Trade between them" not in text


def test_a_sentence_cut_off_mid_clause_brings_the_item_that_completes_it():
    head = "(A) the value of all nonoriginating materials used in the production of the good"
    sents = [
        scored(0, head, 0, 0.8),
        scored(
            0, "(i) does not exceed 10 percent of the transaction value of the good; or", 90, 0.2
        ),
        scored(0, "(ii) does not exceed 10 percent of the total cost of the good.", 170, 0.1),
        scored(1, "A good is originating if it is wholly obtained in the territory.", 0, 0.7),
        scored(1, "Packing materials are disregarded.", 70, 0.1),
    ]
    question = "What is the de minimis threshold for nonoriginating materials?"
    text = extractive_answer(question, [], sents, None, min_sentences=1, max_sentences=2).text
    assert "(i) does not exceed 10 percent of the transaction value" in text  # completes it
    assert "total cost" not in text  # one item, not the list
    assert "Packing materials" not in text  # a sentence that ended brings nothing
    ended = [scored(0, head + ".", 0, 0.8), *sents[1:]]
    text = extractive_answer(question, [], ended, None, min_sentences=1, max_sentences=2).text
    assert "10 percent" not in text


def test_a_cause_taken_along_brings_its_own_cause():
    sents = [
        scored(0, "Mr. Carney will arrive at a low point in relations.", 0, 0.8),
        scored(0, "The last government angered Mexico by imposing visas in 2024.", 60, 0.3),
        scored(0, "The measure was meant to limit asylum claims in Canada.", 130, 0.2),
        scored(0, "Separate global tariffs apply to steel.", 190, 0.1),
    ]
    why = "Why are Canada-Mexico relations at a low point?"
    text = extractive_answer(why, [], sents, None, min_sentences=1).text
    assert "angered Mexico" in text and "asylum claims" in text  # the cause, and its cause
    assert "steel" not in text
    # Not for a question that asks no "why".
    what = extractive_answer("What is the state of relations?", [], sents, None, min_sentences=1)
    assert "asylum claims" not in what.text


def test_the_asked_for_kind_must_be_more_than_the_question_states():
    sents = [
        scored(0, "Canada imposed visas on visitors from Mexico in early 2024.", 0, 0.8),
        scored(0, "The measure was meant to limit asylum claims.", 70, 0.5),
    ]
    # "When ... in 2024?": the only date in the evidence is the year the question gives.
    when = extractive_answer("When in 2024 did Canada impose visas on Mexicans?", [], sents, None)
    assert not when.has_asked_kind
    dated = [*sents, scored(0, "The rule took effect on February 29, 2024.", 121, 0.7)]
    assert extractive_answer(
        "When in 2024 did Canada impose visas on Mexicans?", [], dated, None
    ).has_asked_kind
    # Without a year in the question, "2024" is an answer.
    assert extractive_answer("When did Canada impose visas?", [], sents, None).has_asked_kind


def test_the_asked_for_kind_must_be_in_a_sentence_near_the_best():
    sents = [
        scored(0, "Canada imposed visas on visitors from Mexico to limit asylum claims.", 0, 0.8),
        scored(1, "Canada's exports to Mexico were worth $9 billion.", 0, 0.5),
    ]
    question = "How many Mexicans claimed asylum in Canada?"
    # The only number is in a sentence well below the best: it answers something else.
    assert not extractive_answer(question, [], sents, None).has_asked_kind
    assert extractive_answer(question, [], sents, None, kind_ratio=0.5).has_asked_kind


def test_a_question_about_money_wants_an_amount_not_just_a_number():
    sents = [
        scored(
            0, "Canada said it would retaliate with 25 percent tariffs on American goods.", 0, 0.8
        ),
        scored(0, "The list was to grow after three weeks.", 70, 0.7),
    ]
    question = "How many billions of dollars' worth of American goods did Canada target?"
    assert not extractive_answer(question, [], sents, None).has_asked_kind
    priced = [scored(1, "The first list covered C$30 billion of goods.", 0, 0.75), *sents]
    assert extractive_answer(question, [], priced, None).has_asked_kind


def test_an_outcome_question_needs_an_outcome_not_a_preview():
    preview = [
        scored(0, "The two leaders are expected to sign agreements on trade and security.", 0, 0.8),
        scored(0, "Mr. Carney will arrive at a low point in relations.", 80, 0.7),
    ]
    question = "What did the two leaders agree at their meeting?"
    assert not extractive_answer(question, [], preview, None).has_asked_kind
    treaty = [scored(1, "The Parties agree that a Party may withdraw on notice.", 0, 0.8)]
    assert extractive_answer(
        "What did the Parties agree about withdrawal?", [], treaty, None
    ).has_asked_kind


def test_filler_sentences_must_be_on_topic():
    sents = [
        scored(0, "Article 34.7 schedules a joint review in July 2026.", 0, 0.50, cosine=0.6),
        scored(1, "The review can extend the term by 16 years.", 0, 0.30, cosine=0.5),
        scored(2, "Article 8 of the automotive appendix allows a phase-in.", 0, 0.30, cosine=0.2),
    ]
    text = extractive_answer("What does Article 34.7 provide?", [], sents, None).text
    assert "16 years" in text  # fills up towards four sentences ...
    assert "automotive appendix" not in text  # ... but not with one about something else


def test_filler_sentences_come_from_the_best_sentences_document():
    from rag_support import make_chunk

    from rag.retrieve import Passage

    passages = [
        Passage(c.id, c.text, c.meta, 1.0)
        for c in (
            make_chunk("a", "x", source="review.md"),
            make_chunk("b", "x", source="review.md"),
            make_chunk("c", "x", source="autos.md"),
        )
    ]
    sents = [
        scored(0, "Article 34.7 schedules a joint review in July 2026.", 0, 0.50, cosine=0.6),
        scored(1, "The review can extend the term by 16 years.", 0, 0.30, cosine=0.5),
        scored(
            2, "Producers certify the 16-year phase-in to the Commissioner.", 0, 0.30, cosine=0.5
        ),
    ]
    text = extractive_answer("What does Article 34.7 provide?", passages, sents, None).text
    assert "16 years [2]" in text
    assert "Commissioner" not in text


def test_days_of_the_week_are_not_names_the_documents_must_know():
    from rag_support import make_chunk

    from rag.answer import unsupported_constraints
    from rag.retrieve import BM25Index

    bm25 = BM25Index([make_chunk("a", "Time limits are counted in calendar days.")])
    asked = "Do Saturdays and Sundays count toward a time limit?"
    assert unsupported_constraints(asked, [], bm25) == []
    assert unsupported_constraints("What did Mercosur set as its limit?", [], bm25) == ["Mercosur"]
    # Two words of a name the documents never use: not covered, though "Free Trade" is known.
    bm25 = BM25Index([make_chunk("b", "The free trade area counts time in calendar days.")])
    asked = "What does the African Continental Free Trade Area cover?"
    assert unsupported_constraints(asked, [], bm25) == ["African Continental Free Trade Area"]
    assert (
        unsupported_constraints("What does the Continental Free Trade Area cover?", [], bm25) == []
    )


def test_a_document_named_by_its_file_or_an_acronym_it_spells_out_is_known():
    from rag_support import make_chunk

    from rag.answer import unsupported_constraints
    from rag.retrieve import BM25Index, Passage

    chunk = make_chunk(
        "a",
        "The Administrator of the Environmental Protection Agency shall build treatment works.",
        source="articles/kiddle_usmca_facts.txt",
    )
    bm25 = BM25Index([chunk])
    passages = [Passage(chunk.id, chunk.text, chunk.meta, 1.0)]
    asked = "According to the Kiddle page, why must the EPA build treatment works?"
    assert unsupported_constraints(asked, passages, bm25) == []
    # Neither in a file name nor spelled out in the passages read: unknown.
    asked = "According to the Britannica page, why must the FDA build treatment works?"
    assert unsupported_constraints(asked, passages, bm25) == ["Britannica", "FDA"]
    assert unsupported_constraints("I'm told the EPA builds works: where?", passages, bm25) == []


def test_an_identifier_no_document_holds_is_named_as_missing():
    from rag_support import make_chunk

    from rag.answer import unsupported_constraints
    from rag.retrieve import BM25Index, Passage

    bm25 = BM25Index(
        [
            make_chunk("a", "Article 34.1: Transitional Provision from NAFTA 1994."),
            make_chunk("b", "Petitions under Annex 31–A of the USMCA; see 19 U.S.C. § 4646."),
        ]
    )
    ask = "How much notice does Article 34.6 require, and what does Article 34.1 keep?"
    assert unsupported_constraints(ask, [], bm25) == ["Article 34.6"]
    assert unsupported_constraints("What does Annex 31-A set up?", [], bm25) == []  # a dash
    # The Code prints "§ 4646": its "19 U.S.C. 4646" form is not looked for.
    passages = [Passage(c.id, c.text, c.meta, 1.0) for c in bm25.chunks]
    assert unsupported_constraints("What does 19 U.S.C. 4646 add?", passages, bm25) == []


def test_what_a_figure_did_have_to_reach_asks_for_the_figure_not_an_outcome():
    sents = [scored(0, "Thereafter, 62.5 percent under the net cost method.", 0, 0.6)]
    question = "What regional value content did cars have to reach after 2002?"
    assert extractive_answer(question, [], sents, None).has_asked_kind


def test_the_asked_kind_orders_the_answer_but_refusal_judges_at_its_evidence_weight():
    from rag.rerank import KIND_BONUS, KIND_EVIDENCE, asked_in, expected_pattern, holds_kind

    question = "When did the two countries establish formal relations?"
    wanted = expected_pattern(question)
    own = asked_in(wanted, question)
    dated = "Formal relations did not begin until 30 January 1944."
    assert holds_kind(wanted, own, dated)
    assert not holds_kind(wanted, asked_in(wanted, "What began in 1944?"), "It began in 1944.")

    topic = scored(0, "Canada delayed establishing relations with Mexico.", 0, 0.48, cosine=0.6)
    answer = scored(0, dated, 60, 0.40 + KIND_BONUS, cosine=0.5)
    answer.holds_kind = True
    assert abs(answer.judged - (0.40 + KIND_EVIDENCE)) < 1e-9
    assert answer.judged < topic.judged
    draft = extractive_answer(question, [], [topic, answer], None, max_sentences=1)
    assert dated.rstrip(".") in draft.text  # the dated sentence leads the answer ...
    # ... but the evidence for refusal is the better-matching sentence's (0.6 * 0.6 + 0.4 * 0.3)
    assert abs(draft.evidence - 0.48) < 1e-6


def test_who_holds_a_role_needs_a_name_in_a_sentence_stating_that_role():
    question = "Who chairs the Labor Expert Board?"
    named = scored(
        0, "There is hereby established the Independent Mexico Labor Expert Board.", 0, 0.8
    )
    members = scored(0, "Four members are appointed by the Labor Advisory Committee.", 80, 0.7)
    assert not extractive_answer(question, [], [named, members], None).has_asked_kind
    chair = scored(0, "The Secretary of Labor shall chair the Board.", 160, 0.55)
    assert extractive_answer(question, [], [named, members, chair], None).has_asked_kind
    # Without a role verb ("who are ..."), any name near the best sentence will do.
    who_are = "Who are the members of the Labor Expert Board?"
    assert extractive_answer(who_are, [], [named, members], None).has_asked_kind


def test_sentences_alike_but_stating_different_figures_are_both_kept():
    general = scored(0, "The Parties shall maintain a roster of up to 30 panelists.", 0, 0.8)
    special = scored(1, "The Parties shall maintain a roster of up to 15 panelists.", 0, 0.79)
    same = scored(2, "The Parties shall maintain a roster of up to 30 panelists.", 90, 0.78)
    special.embedding = same.embedding = general.embedding  # the encoder reads them alike
    text = extractive_answer(
        "How many panelists can the roster hold?", [], [general, special, same], None
    ).text
    assert "up to 30" in text and "up to 15" in text
    assert text.count("up to 30") == 1  # a true duplicate is still dropped


def test_refusal_reads_the_closer_of_the_two_cosines():
    """A paraphrase in everyday words is judged by its cosine to the question in the
    documents' terms when that is closer; the answer's order keeps the plain cosine."""
    plain = scored(0, "Compensation shall be paid without delay.", 0, 0.40, cosine=0.30)
    assert plain.meaning == 0.30 and plain.judged == plain.score
    reworded = scored(0, "Compensation shall be paid without delay.", 0, 0.40, cosine=0.30)
    reworded.reworded = 0.50
    assert reworded.meaning == 0.50
    assert abs(reworded.judged - (0.40 + 0.6 * 0.20)) < 1e-9
    question = "How is the payout worked out?"
    low = extractive_answer(question, [], [plain], None).evidence
    high = extractive_answer(question, [], [reworded], None).evidence
    assert abs(high - low - 0.6 * 0.20) < 1e-9
    farther = scored(0, "Compensation shall be paid without delay.", 0, 0.40, cosine=0.30)
    farther.reworded = 0.10  # further away in the documents' terms: the plain cosine holds
    assert farther.meaning == 0.30


def test_a_word_capitalised_for_its_place_is_not_a_name():
    from rag_support import make_chunk

    from rag.answer import unsupported_constraints
    from rag.retrieve import BM25Index

    bm25 = BM25Index([make_chunk("a", "About 3 percent of Canada's exports go to Mexico.")])
    assert unsupported_constraints("Roughly how much goes to Mexico?", [], bm25) == []
    assert unsupported_constraints("Exports aside. Roughly how much?", [], bm25) == []
    # Inside the sentence, or possessive at its start, an unknown word is still a name.
    assert unsupported_constraints("What does Mercosur charge?", [], bm25) == ["Mercosur"]
    assert unsupported_constraints("Mercosur's tariff on cars?", [], bm25) == ["Mercosur's"]
